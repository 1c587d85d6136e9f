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
	"slices"
	"strings"
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
	// Trust holds the keys of every court whose receipts the client may
	// read, by court ID (a trust file: certificate.ParseTrust). Courts
	// mirror each other's logs, so a read at one court may return an
	// entry another court recorded, under that court's signed head: such a
	// receipt verifies against the keys of the court its entry names (its
	// origin), never those of the court that served it. Court and
	// CourtKeys are added to it.
	Trust map[string][]*checkpoint.Verifier
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
	heads headCache // signed heads whose signatures verified
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
	trust := make(map[string][]*checkpoint.Verifier, len(cfg.Trust)+1)
	for id, keys := range cfg.Trust {
		for _, k := range keys {
			if k.Name() != id {
				return nil, fmt.Errorf("client: trust: key %s is listed under court %q", k, id)
			}
		}
		trust[id] = append(trust[id], keys...)
	}
	if cfg.Court != nil {
		// Court first; a key also in Trust is held once (note verification
		// refuses two verifiers of one key as ambiguous).
		keys := append([]*checkpoint.Verifier{cfg.Court}, cfg.CourtKeys...)
		for _, k := range trust[cfg.Court.Name()] {
			if !slices.ContainsFunc(keys, func(h *checkpoint.Verifier) bool { return h.String() == k.String() }) {
				keys = append(keys, k)
			}
		}
		trust[cfg.Court.Name()] = keys
	}
	cfg.Trust = trust
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
		ep = trimURL(ep)
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

// trimURL takes a node's address given as a URL (https://host:port/, as
// copied from a browser or curl) as the gRPC address host:port; gRPC
// would otherwise read the scheme as part of the host.
func trimURL(ep string) string {
	for _, scheme := range []string{"https://", "http://"} {
		if len(ep) > len(scheme) && strings.EqualFold(ep[:len(scheme)], scheme) {
			return strings.TrimSuffix(ep[len(scheme):], "/")
		}
	}
	return ep
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
	r, err := c.verifySubmitted(resp.Receipt)
	return r, resp.Receipt.GetDuplicate(), err
}

// UnverifiedError is a submission the court says it recorded, whose
// receipt did not verify here (often a trust file without the court's
// current key). The evidence may well be filed: EvidenceID says under
// which ID, as the court claims, to look it up once the trust is fixed.
type UnverifiedError struct {
	EvidenceID string
	Receipt    *pb.Receipt // as the court sent it
	Err        error
}

func (e *UnverifiedError) Error() string {
	return fmt.Sprintf("client: evidence %s filed, but its receipt did not verify: %v", e.EvidenceID, e.Err)
}

func (e *UnverifiedError) Unwrap() error { return e.Err }

// verifySubmitted verifies the receipt of a submission: it must also be
// of the court filed with, when the client was told which (Court). A
// receipt that does not verify is an *UnverifiedError.
func (c *Client) verifySubmitted(r *pb.Receipt) (*evidence.Receipt, error) {
	rc, err := c.VerifyReceipt(r)
	if err == nil && c.cfg.Court != nil && rc.Entry.Court != c.cfg.Court.Name() {
		err = fmt.Errorf("client: receipt of a submission is of court %q, not of %q, the court filed with", rc.Entry.Court, c.cfg.Court.Name())
	}
	if err != nil {
		return nil, &UnverifiedError{EvidenceID: r.GetEntry().GetEvidenceId(), Receipt: r, Err: err}
	}
	return rc, nil
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
		out[i].Receipt, out[i].Err = c.verifySubmitted(r.GetReceipt())
	}
	return out, nil
}

// ErrUntrustedCourt is returned for a receipt of a court the client holds
// no key of.
var ErrUntrustedCourt = errors.New("client: no key of the receipt's court")

// VerifyReceipt checks a receipt from the API against the keys of the
// court that recorded it (the court its entry names, which a mirror serves
// too): the head's signature, the entry's canonical bytes and the
// inclusion proof.
func (c *Client) VerifyReceipt(r *pb.Receipt) (*evidence.Receipt, error) {
	if len(c.cfg.Trust) == 0 {
		return nil, errors.New("client: no court key configured to verify receipts")
	}
	rc, err := receiptOf(r)
	if err != nil {
		return nil, err
	}
	keys := c.Keys(rc.Entry.Court)
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: the entry was recorded by %q; add that court's key to the trust", ErrUntrustedCourt, rc.Entry.Court)
	}
	if r.GetTreeHead() == nil {
		return nil, errors.New("client: receipt is incomplete")
	}
	// The receipts of a batch share a few heads: each head's signature is
	// checked once, the rest of each receipt every time.
	if head, ok := c.heads.get(rc.SignedHead); ok {
		err = rc.VerifyUnder(head)
	} else if head, err = verifyWith(rc, keys); err == nil {
		c.heads.put(rc.SignedHead, head)
	}
	if err != nil {
		return nil, fmt.Errorf("client: receipt does not verify: %w", err)
	}
	return rc, nil
}

// Keys returns the keys the client trusts for a court (nil if none).
func (c *Client) Keys(court string) []*checkpoint.Verifier { return c.cfg.Trust[court] }

// VerifyHead checks a signed tree head against the keys of the court it
// names, and returns it with the names of the other trusted courts whose
// cosignatures (witness signatures) on it verify.
func (c *Client) VerifyHead(signed []byte) (checkpoint.TreeHead, []string, error) {
	h, err := checkpoint.ParseUnverified(signed)
	if err != nil {
		return checkpoint.TreeHead{}, nil, fmt.Errorf("client: tree head: %w", err)
	}
	keys := c.Keys(h.Origin)
	if len(keys) == 0 {
		return checkpoint.TreeHead{}, nil, fmt.Errorf("%w: the head is of %q; add that court's key to the trust", ErrUntrustedCourt, h.Origin)
	}
	vs := make([]note.Verifier, len(keys))
	for i, k := range keys {
		vs[i] = k
	}
	var others []note.Verifier
	for id, ks := range c.cfg.Trust {
		if id == h.Origin {
			continue
		}
		for _, k := range ks {
			if cv, err := checkpoint.NewCosignatureVerifier(id, k.PublicKey()); err == nil {
				others = append(others, cv)
			}
		}
	}
	origin := h.Origin
	h, nt, err := checkpoint.OpenAny(signed, vs, others...)
	if err != nil {
		return checkpoint.TreeHead{}, nil, fmt.Errorf("client: tree head of %q does not verify: %w", origin, err)
	}
	var witnesses []string
	for _, s := range nt.Sigs {
		if s.Name != h.Origin && !slices.Contains(witnesses, s.Name) {
			witnesses = append(witnesses, s.Name)
		}
	}
	slices.Sort(witnesses)
	return h, witnesses, nil
}

// VerifyReceipt checks a receipt from the API against a court's keys: it
// verifies if the head is signed by any of them (several after the court
// rotated its key; all must carry the court's name).
func VerifyReceipt(r *pb.Receipt, court ...*checkpoint.Verifier) (*evidence.Receipt, error) {
	if r.GetEntry() == nil || r.GetTreeHead() == nil {
		return nil, errors.New("client: receipt is incomplete")
	}
	rc, err := receiptOf(r)
	if err != nil {
		return nil, err
	}
	if _, err := verifyWith(rc, court); err != nil {
		return nil, fmt.Errorf("client: receipt does not verify: %w", err)
	}
	return rc, nil
}

// receiptOf decodes an API receipt; nothing of it is verified yet.
func receiptOf(r *pb.Receipt) (*evidence.Receipt, error) {
	if r.GetEntry() == nil {
		return nil, errors.New("client: receipt is incomplete")
	}
	e, err := evidence.UnmarshalEntry(r.Entry.Canonical)
	if err != nil {
		return nil, fmt.Errorf("client: receipt entry: %w", err)
	}
	return &evidence.Receipt{Entry: *e, Proof: r.InclusionProof, SignedHead: []byte(r.GetTreeHead().GetNote())}, nil
}

// verifyWith verifies rc against any of a court's keys and returns its head.
func verifyWith(rc *evidence.Receipt, court []*checkpoint.Verifier) (checkpoint.TreeHead, error) {
	keys := make([]note.Verifier, len(court))
	for i, k := range court {
		keys[i] = k
	}
	return rc.Verify(keys...)
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
		return nil, errors.New("client: Court is required to find the original of a submission")
	}
	id := evidence.EvidenceID(c.cfg.Court.Name(), c.cfg.Platform, requestID)
	resp, err := c.ev.GetEvidence(ctx, &pb.GetEvidenceRequest{EvidenceId: id})
	if err != nil {
		return nil, err
	}
	rc, err := c.verifySubmitted(resp.Receipt)
	if err != nil {
		return nil, err
	}
	if rc.Entry.Submission.Fingerprint != fp {
		return nil, fmt.Errorf("client: request ID %q was used for another fingerprint, %x", requestID, rc.Entry.Submission.Fingerprint)
	}
	return rc, nil
}
