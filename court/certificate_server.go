package court

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/courtledger/courtledger/api/gen/courtledger/v1"
	"github.com/courtledger/courtledger/consensus"
	"github.com/courtledger/courtledger/court/apierr"
	"github.com/courtledger/courtledger/crypto/checkpoint"
	"github.com/courtledger/courtledger/crypto/sm2"
	"github.com/courtledger/courtledger/evidence"
	"github.com/courtledger/courtledger/evidence/certificate"
	"github.com/courtledger/courtledger/evidence/certpdf"
)

// certificateServer issues certificates and answers judges at trial. It
// reads only what this node has applied, so any node serves it.
type certificateServer struct {
	pb.UnimplementedCertificateServiceServer
	court   string
	sources func() []EvidenceSource
	pdf     *certpdf.Renderer
	now     func() time.Time
	key     *sm2.PrivateKey // signs certificates (issue 13, item 8)
	ledger  interface {     // the court's platform registry
		Platform(id string) (consensus.Platform, error)
	}
}

func newCertificateServer(court string, key *sm2.PrivateKey, publicURL string, logs courtLogs, timestamps certificate.TimestampChecker) (*certificateServer, error) {
	r, err := certpdf.New(certpdf.Config{VerifyURL: publicURL, Timestamps: timestamps})
	if err != nil {
		return nil, err
	}
	return &certificateServer{court: court, sources: logs.evidenceSources, pdf: r, now: time.Now, key: key, ledger: logs.ledger}, nil
}

// errNoEvidence answers an unknown evidence ID and a recorded one asked
// with another fingerprint alike (apierr.ErrNoEvidence).
var errNoEvidence = apierr.ErrNoEvidence

// maxRecordings bounds the recordings of one fingerprint in a verdict.
const maxRecordings = 100

func checkEvidenceID(id string) error {
	if len(id) != evidence.EvidenceIDLen {
		return invalid("evidence_id", "INVALID_EVIDENCE_ID", "evidence ID must be %d hex digits, got %d characters", evidence.EvidenceIDLen, len(id))
	}
	return nil
}

// find looks an evidence ID up in every source, of fingerprint fp if given.
func (s *certificateServer) find(ctx context.Context, id string, fp *evidence.Fingerprint) (Proven, error) {
	for _, src := range s.sources() {
		p, err := src.ByEvidenceID(ctx, id, fp)
		if err == nil || !errors.Is(err, consensus.ErrNotFound) {
			return p, err
		}
	}
	return Proven{}, fmt.Errorf("%w: evidence %q at this court or its mirrors", consensus.ErrNotFound, id)
}

func (s *certificateServer) issue(p Proven) (*certificate.Certificate, error) {
	c, err := s.issueBare(p)
	if err != nil || p.Timestamp == nil {
		return c, err
	}
	t := p.Timestamp
	return c.WithTimestamp(t.TSA, t.Proof, t.SignedHead, t.Token)
}

func (s *certificateServer) issueBare(p Proven) (*certificate.Certificate, error) {
	return certificate.Issue(certificate.Input{Entry: p.Entry, Index: p.Index, Proof: p.Proof,
		SignedHead: p.SignedHead, IssuedBy: s.court, IssuedAt: s.now(), Signer: s.key,
		PlatformKeyOf: func(court, id string) (*certificate.PlatformKey, error) {
			if court != s.court || s.ledger == nil {
				return nil, nil // another court's registry
			}
			pl, err := s.ledger.Platform(id)
			if err != nil {
				return nil, nil
			}
			return &certificate.PlatformKey{Court: court, RegisteredAt: pl.RegisteredAt, Key: pl.Key}, nil
		}})
}

func (s *certificateServer) GetCertificate(ctx context.Context, req *pb.GetCertificateRequest) (*pb.GetCertificateResponse, error) {
	if err := checkEvidenceID(req.EvidenceId); err != nil {
		return nil, toStatus(err)
	}
	var fp *evidence.Fingerprint
	if req.Fingerprint != "" {
		f, err := evidence.ParseFingerprint(req.Fingerprint)
		if err != nil {
			return nil, toStatus(err)
		}
		fp = &f
	}
	p, err := s.find(ctx, req.EvidenceId, fp)
	// An unknown ID and a wrong fingerprint answer alike (issue 13, item
	// 9): a wrong guess learns nothing.
	if errors.Is(err, consensus.ErrNotFound) {
		return nil, toStatus(errNoEvidence)
	}
	if err != nil {
		return nil, toStatus(err)
	}
	c, err := s.issue(p)
	if err != nil {
		return nil, toStatus(err)
	}
	out := &pb.GetCertificateResponse{Certificate: certificateToPB(c)}
	if req.IncludePdf {
		var b bytes.Buffer
		if err := s.pdf.Render(&b, c); err != nil {
			return nil, toStatus(err)
		}
		out.Pdf = b.Bytes()
	}
	return out, nil
}

func (s *certificateServer) VerifyEvidence(ctx context.Context, req *pb.VerifyEvidenceRequest) (*pb.VerifyEvidenceResponse, error) {
	fp, err := evidence.ParseFingerprint(req.Fingerprint)
	if err != nil {
		return nil, toStatus(err)
	}
	out := &pb.VerifyEvidenceResponse{Fingerprint: hex.EncodeToString(fp[:]), ServedBy: s.court}
	var found []Proven
	if req.EvidenceId != "" {
		if err := checkEvidenceID(req.EvidenceId); err != nil {
			return nil, toStatus(err)
		}
		p, err := s.find(ctx, req.EvidenceId, nil)
		switch {
		case errors.Is(err, consensus.ErrNotFound):
			out.Verdict, out.Reason = pb.Verdict_VERDICT_NOT_RECORDED, fmt.Sprintf("no evidence %s is recorded at %s or in its mirrors", req.EvidenceId, s.court)
			return out, nil
		case err != nil:
			return nil, toStatus(err)
		}
		found = []Proven{p}
	} else {
		for _, src := range s.sources() {
			ps, err := src.ByFingerprint(ctx, fp, maxRecordings-len(found))
			if err != nil {
				return nil, toStatus(err)
			}
			found = append(found, ps...)
			if len(found) >= maxRecordings {
				break
			}
		}
	}
	if srcs := s.sources(); len(srcs) > 0 {
		if note, err := srcs[0].LatestHead(ctx); err == nil {
			if h, err := checkpoint.ParseUnverified(note); err == nil {
				out.LatestHead = headToPB(h, note)
			}
		}
	}
	if len(found) == 0 {
		out.Verdict, out.Reason = pb.Verdict_VERDICT_NOT_RECORDED, fmt.Sprintf("no file with SM3 fingerprint %x is recorded at %s or in its mirrors", fp[:], s.court)
		return out, nil
	}
	for _, p := range found {
		c, err := s.issue(p)
		if err != nil {
			return nil, toStatus(err)
		}
		out.Recordings = append(out.Recordings, recordingToPB(c))
	}
	first := out.Recordings[0]
	if first.Fingerprint != out.Fingerprint {
		out.Verdict, out.Reason = pb.Verdict_VERDICT_TAMPERED, fmt.Sprintf("evidence %s was recorded with SM3 fingerprint %s, the file's is %s", first.EvidenceId, first.Fingerprint, out.Fingerprint)
		return out, nil
	}
	out.Verdict = pb.Verdict_VERDICT_VALID
	out.Reason = fmt.Sprintf("recorded %d time(s), first by court %s at position %d on %s", len(out.Recordings),
		first.Court, first.Index, first.RecordedAt.AsTime().Format(time.RFC3339))
	return out, nil
}

func certificateToPB(c *certificate.Certificate) *pb.Certificate {
	out := &pb.Certificate{
		Format:        certificate.Format,
		CertificateId: c.ID,
		IssuedBy:      c.IssuedBy,
		IssuedAt:      timestamppb.New(c.IssuedAt),
		EvidenceId:    c.Entry.EvidenceID,
		Fingerprint:   hex.EncodeToString(c.Entry.Submission.Fingerprint[:]),
		Entry:         c.EntryBytes,
		TlogProof:     string(c.TlogProof()),
	}
	if c.Version == 1 {
		out.Format = certificate.FormatV1
		return out
	}
	if p := c.Platform; p != nil {
		out.PlatformCourt, out.PlatformRegisteredAt, out.PlatformKey = p.Court, timestamppb.New(p.RegisteredAt), p.Key.MarshalPKIX()
	}
	out.IssuerKeyId, out.IssuerSignature = fmt.Sprintf("%08x", c.IssuerKeyID), c.IssuerSignature
	if t := c.Timestamp; t != nil {
		out.Timestamp = &pb.TrustedTimestamp{Tsa: t.TSA, Proof: string(t.ProofText(c.Entry.Index)), Token: t.Token}
	}
	return out
}

func recordingToPB(c *certificate.Certificate) *pb.Recording {
	e := c.Entry
	r := &pb.Recording{
		Court: e.Court, EvidenceId: e.EvidenceID, Index: e.Index, RecordedAt: timestamppb.New(e.AcceptedAt),
		Platform: e.Submission.Platform, RequestId: e.Submission.RequestID, Category: string(e.Submission.Category),
		Title: e.Submission.Title, Fingerprint: hex.EncodeToString(e.Submission.Fingerprint[:]),
		TreeSize: c.Head.Size, Certificate: certificateToPB(c),
	}
	for _, w := range c.Cosignatures() {
		pw := &pb.Witness{Court: w.Court, KeyId: w.KeyID}
		if !w.CosignedAt.IsZero() { // a line that is no cosignature has no time, not 0001-01-01
			pw.CosignedAt = timestamppb.New(w.CosignedAt)
		}
		r.Witnesses = append(r.Witnesses, pw)
	}
	return r
}
