package court

import (
	"context"
	"errors"
	"fmt"

	"github.com/courtledger/courtledger/consensus"
	"github.com/courtledger/courtledger/evidence"
)

// Proven is the material of a certificate for one entry: its canonical
// bytes, its index, an inclusion proof and the signed head (with whatever
// cosignature lines the source holds) that proof leads to.
type Proven struct {
	Entry      []byte
	Index      uint64
	Proof      [][]byte
	SignedHead []byte
	// Timestamp is the trusted time of the entry (issue 16): the token of
	// the first stamped head covering it, if the source holds one.
	Timestamp *ProvenTimestamp
}

// ProvenTimestamp is a TSA token over a stamped head, with the entry's
// inclusion proof under that head.
type ProvenTimestamp struct {
	TSA        string
	Proof      [][]byte
	SignedHead []byte
	Token      []byte
}

// stampSource reads the tokens of the court's own heads (consensus.Ledger).
type stampSource interface {
	TimestampCovering(index uint64) (size uint64, tsa string, token []byte, ok bool, err error)
	MirrorTimestampCovering(court string, index uint64) (size uint64, tsa string, token, note []byte, ok bool, err error)
}

// EvidenceSource is one court's log as this node can read it: the court's
// own ledger, or (issue 5) this court's mirror of another court's log.
// Certificates and verdicts search every source of evidenceSources.
type EvidenceSource interface {
	// Court is the ID of the court whose log the source holds.
	Court() string
	// ByEvidenceID returns the proof of an evidence ID, or an error
	// wrapping consensus.ErrNotFound; also if fp is given and the
	// evidence has another fingerprint (checked before anything is
	// proven, so that answer costs what an unknown ID costs).
	ByEvidenceID(ctx context.Context, id string, fp *evidence.Fingerprint) (Proven, error)
	// ByFingerprint returns the proofs of up to limit recordings of fp,
	// oldest first.
	ByFingerprint(ctx context.Context, fp evidence.Fingerprint, limit int) ([]Proven, error)
	// LatestHead returns the newest signed head of the log.
	LatestHead(ctx context.Context) ([]byte, error)
}

// evidenceSources lists where this node looks for evidence: its own
// court's ledger first, then its mirrors of the other courts
// (docs/sync-protocol.md), so a certificate of evidence filed elsewhere is
// issued here too, also while the origin court is down.
func (c courtLogs) evidenceSources() []EvidenceSource {
	var out []EvidenceSource
	for _, v := range c.all() {
		out = append(out, logSource{v: v, stamps: c.ledger})
	}
	return out
}

// logSource reads one court's log: the court's own or a mirror. stamps
// reads the tokens of its heads: the court's own, or those of the other
// court that this court fetched and checked (mirrorstamps.go).
type logSource struct {
	v      *consensus.LogView
	stamps stampSource
}

func (s logSource) Court() string { return s.v.Court() }

func (s logSource) LatestHead(context.Context) ([]byte, error) {
	h, err := s.v.LatestHead()
	if err != nil {
		return nil, err
	}
	return h.Note, nil
}

func (s logSource) ByEvidenceID(_ context.Context, id string, fp *evidence.Fingerprint) (Proven, error) {
	e, err := s.v.EntryByEvidenceID(id)
	if err != nil {
		return Proven{}, err
	}
	if fp != nil && e.Submission.Fingerprint != *fp {
		return Proven{}, fmt.Errorf("%w: evidence %s with another fingerprint", consensus.ErrNotFound, id)
	}
	return s.prove(e)
}

func (s logSource) ByFingerprint(_ context.Context, fp evidence.Fingerprint, limit int) ([]Proven, error) {
	entries, err := s.v.Lookup(fp, limit)
	if errors.Is(err, consensus.ErrNotFound) && !s.v.Own() {
		return nil, nil // nothing of that court mirrored yet
	}
	if err != nil {
		return nil, err
	}
	out := make([]Proven, 0, len(entries))
	for _, e := range entries {
		p, err := s.prove(e)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// prove proves e under the head with the most witnesses: for the court's
// own log the newest cosigned head that covers it, with the cosignature
// lines attached (else the head of its batch, as its receipt); for a
// mirror, the origin's newest head held, which this court cosigned.
func (s logSource) prove(e *evidence.Entry) (Proven, error) {
	r, err := s.v.WitnessedReceipt(e.Index)
	if err != nil {
		return Proven{}, fmt.Errorf("prove evidence %s: %w", e.EvidenceID, err)
	}
	p := Proven{Entry: r.Entry.Marshal(), Index: e.Index, Proof: r.Proof, SignedHead: r.SignedHead}
	if s.stamps != nil {
		ts, err := s.timestamp(e.Index)
		if err != nil {
			return Proven{}, fmt.Errorf("prove evidence %s: trusted timestamp: %w", e.EvidenceID, err)
		}
		p.Timestamp = ts
	}
	return p, nil
}

// timestamp is the token of the first stamped head covering index, with
// the head and the entry's proof under it; nil if no such head is stamped
// yet.
func (s logSource) timestamp(index uint64) (*ProvenTimestamp, error) {
	var (
		size      uint64
		tsa       string
		token, hd []byte
		ok        bool
		err       error
	)
	if s.v.Own() {
		size, tsa, token, ok, err = s.stamps.TimestampCovering(index)
		if err == nil && ok {
			var h consensus.SignedHead
			h, err = s.v.HeadAt(size)
			hd = h.Note
		}
	} else {
		size, tsa, token, hd, ok, err = s.stamps.MirrorTimestampCovering(s.v.Court(), index)
	}
	if err != nil || !ok {
		return nil, err
	}
	proof, err := s.v.InclusionProof(index, size)
	if err != nil {
		return nil, err
	}
	return &ProvenTimestamp{TSA: tsa, Proof: proof, SignedHead: hd, Token: token}, nil
}
