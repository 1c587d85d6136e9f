package court

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/courtledger/courtledger/api/gen/courtledger/v1"
	"github.com/courtledger/courtledger/consensus"
	"github.com/courtledger/courtledger/court/access"
	"github.com/courtledger/courtledger/crypto/checkpoint"
	"github.com/courtledger/courtledger/crypto/sm2"
	"github.com/courtledger/courtledger/crypto/sm3"
	"github.com/courtledger/courtledger/evidence"
	"github.com/courtledger/courtledger/evidence/certificate"
	"github.com/courtledger/courtledger/evidence/certpdf"
)

// Proven is the material of a certificate for one entry: its canonical
// bytes, its index, an inclusion proof and the signed head (with whatever
// cosignature lines the source holds) that proof leads to.
type Proven struct {
	Entry      []byte
	Index      uint64
	Proof      [][]byte
	SignedHead []byte
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
		out = append(out, logSource{v})
	}
	return out
}

// logSource reads one court's log: the court's own or a mirror.
type logSource struct{ v *consensus.LogView }

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
	return Proven{Entry: r.Entry.Marshal(), Index: e.Index, Proof: r.Proof, SignedHead: r.SignedHead}, nil
}

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

func newCertificateServer(court string, key *sm2.PrivateKey, publicURL string, logs courtLogs) (*certificateServer, error) {
	r, err := certpdf.New(certpdf.Config{VerifyURL: publicURL})
	if err != nil {
		return nil, err
	}
	return &certificateServer{court: court, sources: logs.evidenceSources, pdf: r, now: time.Now, key: key, ledger: logs.ledger}, nil
}

// errNoEvidence answers both an unknown evidence ID and a recorded one asked
// with another fingerprint: the same code, reason and message, naming
// neither, so a caller cannot tell which evidence IDs exist.
var errNoEvidence = &Problem{Code: codes.NotFound, Reason: "NOT_FOUND",
	Message: "no evidence with this ID (and this fingerprint, if given) is recorded at this court or its mirrors", Field: "evidence_id"}

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

// routes adds the two REST routes grpc-gateway cannot serve: the PDF as
// application/pdf, and a file of any size streamed through SM3 (outside
// the request size limit of /v1/, since the body is hashed, never held).
// Both run behind the node's guard as the gRPC methods they stand for.
func (s *certificateServer) routes(mux *http.ServeMux, g *access.Guard) {
	mux.HandleFunc("GET /v1/evidence/{evidence_id}/certificate.pdf",
		g.HTTP("/courtledger.v1.CertificateService/GetCertificate", s.servePDF))
	mux.HandleFunc("POST /v1/verdicts:file",
		g.HTTP("/courtledger.v1.CertificateService/VerifyEvidence", s.serveFileVerdict))
}

// writeError answers an HTTP route in the gateway's terms: the status
// mapped from the gRPC code, and the status as JSON.
func writeError(w http.ResponseWriter, err error) {
	st, _ := status.FromError(toStatus(err))
	body, _ := protojson.Marshal(st.Proto())
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(runtime.HTTPStatusFromCode(st.Code()))
	w.Write(body)
}

func (s *certificateServer) servePDF(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("evidence_id")
	req := &pb.GetCertificateRequest{EvidenceId: id, IncludePdf: true, Fingerprint: r.URL.Query().Get("fingerprint")}
	caller, _ := access.CallerOf(r.Context())
	if err := access.ScopeRequest(caller, req); err != nil {
		return err
	}
	resp, err := s.GetCertificate(r.Context(), req)
	if err != nil {
		return err
	}
	if _, err := access.ScopeResponse(caller, resp); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/pdf")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="certificate-%s.pdf"`, id))
	w.Write(resp.Pdf)
	return nil
}

func (s *certificateServer) serveFileVerdict(w http.ResponseWriter, r *http.Request) error {
	fp, _, err := sm3.SumReader(r.Body, 0, nil)
	if err != nil {
		return invalid("body", "READ_FAILED", "reading the file: %v", err)
	}
	resp, err := s.VerifyEvidence(r.Context(), &pb.VerifyEvidenceRequest{
		Fingerprint: hex.EncodeToString(fp[:]), EvidenceId: r.URL.Query().Get("evidence_id")})
	if err != nil {
		return err
	}
	body, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(resp)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(body)
	return nil
}
