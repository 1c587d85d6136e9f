package court

import (
	pb "github.com/courtledger/courtledger/api/gen/courtledger/v1"
	"github.com/courtledger/courtledger/consensus"
	"github.com/courtledger/courtledger/court/witness"
	"github.com/courtledger/courtledger/evidence/certificate"
)

// courtLogs are the logs a node reads evidence from: its court's own and
// its mirrors of the other courts, with the provenance of what they hold.
type courtLogs struct {
	ledger *consensus.Ledger
	courts *witness.Courts
	// stamping: the court has its heads stamped by a TSA, so a receipt
	// without a timestamp says it is pending.
	stamping bool
}

// all returns the court's own log, then the mirrors of the other courts
// in the order of their IDs: where a lookup searches.
func (c courtLogs) all() []*consensus.LogView {
	out := []*consensus.LogView{c.ledger.Log(c.courts.Self())}
	for _, id := range c.courts.Others() {
		out = append(out, c.ledger.Log(id))
	}
	return out
}

// of returns the log of court: "" or this court is the court's own; a
// configured other court is its mirror; anything else is unknown here.
func (c courtLogs) of(court string) (*consensus.LogView, error) {
	if court == "" || court == c.courts.Self() {
		return c.ledger.Log(c.courts.Self()), nil
	}
	if !c.courts.Known(court) {
		return nil, unknownCourt("court", court)
	}
	return c.ledger.Log(court), nil
}

// receipt is the receipt of an entry of log with its provenance: from the
// court's own log, against the newest head witnesses cosigned (if one
// covers it); from a mirror, against the origin's head this court verified
// and cosigned, with how fresh the mirror is.
func (c courtLogs) receipt(log *consensus.LogView, index uint64) (*pb.Receipt, error) {
	r, err := log.WitnessedReceipt(index)
	if err != nil {
		return nil, err
	}
	rc, err := receiptToPB(r, false)
	if err != nil {
		return nil, err
	}
	p := &pb.Provenance{OriginCourt: log.Court(), ServedBy: c.courts.Self(), Mirrored: !log.Own(),
		Witnesses: c.courts.Witnesses(log.Court(), r.SignedHead)}
	if !log.Own() {
		st, err := c.ledger.Mirror(log.Court())
		if err != nil {
			return nil, err
		}
		p.MirrorSize, p.OriginAlarmed = st.Size, st.Alarm != nil
		if st.Head.Note != nil {
			p.MirrorHeadTime = timestampOf(st.Head.Head.Time)
		}
		if !st.Checked.IsZero() {
			p.MirrorCheckedAt = timestampOf(st.Checked)
		}
	}
	rc.Provenance = p
	if log.Own() {
		// The trusted time, if a head covering the entry is stamped
		// (issue 16); a court that stamps says when it is still pending.
		ts, err := logSource{v: log, stamps: c.ledger}.timestamp(index)
		if err != nil {
			return nil, err
		}
		if ts != nil {
			rc.Timestamp = trustedTimestampToPB(index, ts)
		} else {
			rc.TimestampPending = c.stamping
		}
	}
	return rc, nil
}

func trustedTimestampToPB(index uint64, t *ProvenTimestamp) *pb.TrustedTimestamp {
	ts := certificate.Timestamp{TSA: t.TSA, Proof: t.Proof, SignedHead: t.SignedHead, Token: t.Token}
	return &pb.TrustedTimestamp{Tsa: t.TSA, Proof: string(ts.ProofText(index)), Token: t.Token}
}
