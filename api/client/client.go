// Package client is the Go client an e-contract platform imports to file
// evidence with a court and check what it gets back.
//
// It connects to any nodes of one court and sends each call to one that
// says it is ready, giving each try a short deadline so that a paused node
// costs little (failover.go). It signs submissions with the platform's SM2
// key, retries a submission with the same request ID and the same
// signature on another node when the outcome is unknown (so a retry can
// never record evidence twice), and verifies every receipt locally against
// the court's key before returning it.
package client

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"golang.org/x/mod/sumdb/note"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/courtledger/courtledger/api/gen/courtledger/v1"
	"github.com/courtledger/courtledger/crypto/checkpoint"
	"github.com/courtledger/courtledger/crypto/sm2"
	"github.com/courtledger/courtledger/evidence"
)

// Config configures a Client.
type Config struct {
	// Endpoints are gRPC addresses of nodes of one court; any will do.
	Endpoints []string
	// Court verifies receipts: the court's ID and SM2 key. Required for
	// Submit, which never returns an unverified receipt.
	Court *checkpoint.Verifier
	// CourtKeys are more keys of the same court, accepted as Court is: the
	// ones it signed with before rotating its key, or the next one, given
	// before it rotates (docs/security.md, "Key rotation"). A receipt
	// signed by any of them, or by Court, verifies.
	CourtKeys []*checkpoint.Verifier
	// Platform and Key sign submissions. Required for Submit.
	Platform string
	Key      *sm2.PrivateKey
	// Attempts bounds tries per call across endpoints (default 8); the wait
	// between tries grows from 50 ms to 2 s with jitter.
	Attempts int
	// AttemptTimeout bounds one try on one node (default 2 s): connecting,
	// its health check and, for a call that is safe to send again, the
	// call. A node that does not answer in time (paused, cut off) costs
	// that much and the next try goes to another node.
	AttemptTimeout time.Duration
	// HealthInterval is how long a node's health answer is trusted before
	// the node is asked again (default 1 s). A node found not ready or not
	// answering is left alone for longer, up to 30 s, while others serve.
	HealthInterval time.Duration
	// DialOptions are added to every connection (default: plaintext).
	DialOptions []grpc.DialOption
}

// Client talks to one court.
type Client struct {
	cfg   Config
	eps   []*endpoint
	next  atomic.Int64 // endpoint to try next; moves on after a failure
	ev    pb.EvidenceServiceClient
	admin pb.AdminServiceClient
}

// New connects lazily to the endpoints.
func New(cfg Config) (*Client, error) {
	if len(cfg.Endpoints) == 0 {
		return nil, errors.New("client: no endpoints")
	}
	for _, k := range cfg.CourtKeys {
		if cfg.Court == nil || k.Name() != cfg.Court.Name() {
			return nil, fmt.Errorf("client: court key %s is not a key of Court", k)
		}
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = 8
	}
	if cfg.AttemptTimeout <= 0 {
		cfg.AttemptTimeout = 2 * time.Second
	}
	if cfg.HealthInterval <= 0 {
		cfg.HealthInterval = time.Second
	}
	opts := append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, cfg.DialOptions...)
	c := &Client{cfg: cfg}
	for _, ep := range cfg.Endpoints {
		cc, err := grpc.NewClient(ep, opts...)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("client: %s: %w", ep, err)
		}
		c.eps = append(c.eps, &endpoint{addr: ep, cc: cc, health: healthpb.NewHealthClient(cc)})
	}
	c.ev, c.admin = pb.NewEvidenceServiceClient(c.Conn()), pb.NewAdminServiceClient(c.Conn())
	return c, nil
}

// Close closes the connections.
func (c *Client) Close() error {
	var errs []error
	for _, e := range c.eps {
		errs = append(errs, e.cc.Close())
	}
	return errors.Join(errs...)
}

// Evidence and Admin return service clients whose every call goes to a
// ready node, as Conn's do, for calls this package does not wrap.
func (c *Client) Evidence() pb.EvidenceServiceClient { return c.ev }
func (c *Client) Admin() pb.AdminServiceClient       { return c.admin }

// Sign validates and signs a submission with the platform's key, filling in
// Platform, Court (the ID of Config.Court, so the signature binds the
// submission to this court) and, if zero, SignedAt. Keep the result to retry
// it later: resubmitting the same signed submission is always safe.
func (c *Client) Sign(s evidence.Submission) (*pb.SignedSubmission, error) {
	if c.cfg.Key == nil || c.cfg.Platform == "" {
		return nil, errors.New("client: Platform and Key are required to sign")
	}
	switch {
	case c.cfg.Court == nil && s.Court == "":
		return nil, errors.New("client: the court's ID is signed with the submission: set Config.Court (the court's key) or Submission.Court")
	case c.cfg.Court != nil && s.Court == "":
		s.Court = c.cfg.Court.Name()
	case c.cfg.Court != nil && s.Court != c.cfg.Court.Name():
		return nil, fmt.Errorf("client: submission names court %q but this client files with court %q", s.Court, c.cfg.Court.Name())
	}
	s.Platform = c.cfg.Platform
	if s.SignedAt.IsZero() {
		s.SignedAt = time.Now()
	}
	s.SignedAt = s.SignedAt.UTC().Truncate(time.Millisecond)
	sig, err := s.Sign(c.cfg.Key)
	if err != nil {
		return nil, err
	}
	return &pb.SignedSubmission{Submission: ToPB(&s), Signature: sig}, nil
}

// Submit files one signed submission and returns its verified receipt.
func (c *Client) Submit(ctx context.Context, s *pb.SignedSubmission) (*evidence.Receipt, bool, error) {
	resp, err := c.ev.Submit(ctx, &pb.SubmitRequest{Submission: s})
	if err != nil {
		return nil, false, err
	}
	r, err := c.VerifyReceipt(resp.Receipt)
	return r, resp.Receipt.GetDuplicate(), err
}

// BatchResult is the outcome of one submission of a batch.
type BatchResult struct {
	Receipt   *evidence.Receipt
	Duplicate bool
	Problem   *pb.Problem // why the court refused it
	Err       error       // the receipt failed local verification
}

// SubmitBatch files up to 1024 signed submissions in one call.
func (c *Client) SubmitBatch(ctx context.Context, subs []*pb.SignedSubmission) ([]BatchResult, error) {
	resp, err := c.ev.SubmitBatch(ctx, &pb.SubmitBatchRequest{Submissions: subs})
	if err != nil {
		return nil, err
	}
	if len(resp.Results) != len(subs) {
		return nil, fmt.Errorf("client: %d results for %d submissions", len(resp.Results), len(subs))
	}
	out := make([]BatchResult, len(subs))
	for i, r := range resp.Results {
		if p := r.GetProblem(); p != nil {
			out[i].Problem = p
			continue
		}
		out[i].Duplicate = r.GetReceipt().GetDuplicate()
		out[i].Receipt, out[i].Err = c.VerifyReceipt(r.GetReceipt())
	}
	return out, nil
}

// VerifyReceipt checks a receipt from the API against the court's key: the
// head's signature, the entry's canonical bytes and the inclusion proof.
func (c *Client) VerifyReceipt(r *pb.Receipt) (*evidence.Receipt, error) {
	if c.cfg.Court == nil {
		return nil, errors.New("client: no court key configured to verify receipts")
	}
	return VerifyReceipt(r, append([]*checkpoint.Verifier{c.cfg.Court}, c.cfg.CourtKeys...)...)
}

// VerifyReceipt checks a receipt from the API against a court's keys: it
// verifies if the head is signed by any of them (several after the court
// rotated its key; all must carry the court's name).
func VerifyReceipt(r *pb.Receipt, court ...*checkpoint.Verifier) (*evidence.Receipt, error) {
	if r.GetEntry() == nil || r.GetTreeHead() == nil {
		return nil, errors.New("client: receipt is incomplete")
	}
	e, err := evidence.UnmarshalEntry(r.Entry.Canonical)
	if err != nil {
		return nil, fmt.Errorf("client: receipt entry: %w", err)
	}
	rc := &evidence.Receipt{Entry: *e, Proof: r.InclusionProof, SignedHead: []byte(r.TreeHead.Note)}
	keys := make([]note.Verifier, len(court))
	for i, k := range court {
		keys[i] = k
	}
	if _, err := rc.Verify(keys...); err != nil {
		return nil, fmt.Errorf("client: receipt does not verify: %w", err)
	}
	return rc, nil
}

// Verify asks the court whether a fingerprint was recorded and verifies
// every receipt it returns.
func (c *Client) Verify(ctx context.Context, fp evidence.Fingerprint) ([]*evidence.Receipt, *pb.VerifyFingerprintResponse, error) {
	resp, err := c.ev.VerifyFingerprint(ctx, &pb.VerifyFingerprintRequest{Fingerprint: fmt.Sprintf("%x", fp[:])})
	if err != nil {
		return nil, nil, err
	}
	var out []*evidence.Receipt
	for _, r := range resp.Receipts {
		rc, err := c.VerifyReceipt(r)
		if err != nil {
			return nil, resp, err
		}
		out = append(out, rc)
	}
	return out, resp, nil
}

// ToPB converts a submission to its API form.
func ToPB(s *evidence.Submission) *pb.Submission {
	return &pb.Submission{
		Court:       s.Court,
		Platform:    s.Platform,
		RequestId:   s.RequestID,
		Fingerprint: fmt.Sprintf("%x", s.Fingerprint[:]),
		Category:    string(s.Category),
		Title:       s.Title,
		Metadata:    s.Metadata,
		SignedAt:    timestamppb.New(s.SignedAt),
	}
}

// Original returns the verified receipt of what this platform filed under a
// request ID, provided it is of the fingerprint fp: after a submission was
// refused as a different submission under a used request ID, it shows
// whether the earlier filing was of the same file.
func (c *Client) Original(ctx context.Context, requestID string, fp evidence.Fingerprint) (*evidence.Receipt, error) {
	if c.cfg.Court == nil {
		return nil, errors.New("client: no court key configured to verify receipts")
	}
	id := evidence.EvidenceID(c.cfg.Court.Name(), c.cfg.Platform, requestID)
	resp, err := c.ev.GetEvidence(ctx, &pb.GetEvidenceRequest{EvidenceId: id})
	if err != nil {
		return nil, err
	}
	rc, err := c.VerifyReceipt(resp.Receipt)
	if err != nil {
		return nil, err
	}
	if rc.Entry.Submission.Fingerprint != fp {
		return nil, fmt.Errorf("client: request ID %q was used for another fingerprint, %x", requestID, rc.Entry.Submission.Fingerprint)
	}
	return rc, nil
}
