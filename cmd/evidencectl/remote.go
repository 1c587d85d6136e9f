package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/courtledger/courtledger/api/client"
	pb "github.com/courtledger/courtledger/api/gen/courtledger/v1"
	"github.com/courtledger/courtledger/crypto/checkpoint"
	"github.com/courtledger/courtledger/crypto/merkle"
	"github.com/courtledger/courtledger/crypto/sm2"
	"github.com/courtledger/courtledger/crypto/sm3"
	"github.com/courtledger/courtledger/evidence"
)

// errNotRecorded makes `verify` exit with 3: the court has no such evidence.
var errNotRecorded = errors.New("not recorded")

// remote holds what commands that talk to a court share.
type remote struct {
	servers []string
	trust   string
	timeout time.Duration
	attempt time.Duration // bounds one try on one node (client.Config.AttemptTimeout)
	creds   credentials   // security (issue 7): TLS, certificate, token
}

func (r *remote) flags(cmd *cobra.Command) {
	f := cmd.PersistentFlags()
	f.StringSliceVar(&r.servers, "server", envList("EVIDENCECTL_SERVER", "127.0.0.1:8100"), "gRPC addresses of the court's nodes (env EVIDENCECTL_SERVER)")
	f.StringVar(&r.trust, "trust", os.Getenv("EVIDENCECTL_TRUST"), "file of trusted court verifier keys, one per line (env EVIDENCECTL_TRUST)")
	f.DurationVar(&r.timeout, "timeout", 30*time.Second, "deadline of each command")
	f.DurationVar(&r.attempt, "attempt-timeout", 2*time.Second,
		"deadline of one try on one node; a node that does not answer in time, or says it is not ready, is skipped for the next --server")
	r.creds.flags(cmd)
}

func envList(name, def string) []string {
	if v := os.Getenv(name); v != "" {
		return strings.Split(v, ",")
	}
	return []string{def}
}

// endpoints are --server's addresses as gRPC targets.
func (r *remote) endpoints() ([]string, error) {
	var out []string
	for _, s := range r.servers {
		if s == "" {
			continue
		}
		a, err := endpoint(s)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: --server is empty: give the gRPC address of at least one node", errUsage)
	}
	return out, nil
}

// connect returns a client of the court behind --server. With a trust
// file, it holds every court's keys: a receipt is verified against the
// keys of the court that recorded it, which is not the court that serves
// it when it comes from a mirror. filing (submit) also asks which court
// --server is, through any of its nodes, since a submission's receipt must
// be that court's. Every call goes to a node of --server that says it is
// ready, the next one if a node does not answer within --attempt-timeout.
func (r *remote) connect(ctx context.Context, platform string, key *sm2.PrivateKey, filing bool) (*client.Client, error) {
	eps, err := r.endpoints()
	if err != nil {
		return nil, err
	}
	dial, err := r.creds.dialOptions()
	if err != nil {
		return nil, err
	}
	cfg := client.Config{Endpoints: eps, Platform: platform, Key: key, DialOptions: dial, AttemptTimeout: r.attempt}
	if r.trust != "" {
		t, err := readTrust(r.trust)
		if err != nil {
			return nil, err
		}
		cfg.Trust = trustMap(t)
	}
	c, err := client.New(cfg)
	if err != nil || !filing {
		return c, err
	}
	st, err := c.Admin().GetClusterStatus(ctx, &pb.GetClusterStatusRequest{})
	c.Close()
	if err != nil {
		return nil, describe(err)
	}
	keys := cfg.Trust[st.Court]
	if len(keys) == 0 {
		return nil, fmt.Errorf("court %q (the court at --server) is not in trust file %s: add its key line, as `courtd keygen` prints after \"trust line:\"", st.Court, r.trust)
	}
	cfg.Court, cfg.CourtKeys = keys[0], keys[1:]
	return client.New(cfg)
}

func remoteCmds() []*cobra.Command {
	r := &remote{}
	cmds := []*cobra.Command{submitCmd(r), captureCmd(r), verifyCmd(r), certCmd(r), getCmd(r), lookupCmd(r), headCmd(r), proofCmd(r),
		clusterCmd(r), nodeCmd(r), platformCmd(r), auditCmd(r), alarmsCmd(r), syncCmd(r)}
	for _, c := range cmds {
		r.flags(c)
	}
	return cmds
}

func withTimeout(r *remote) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), r.timeout)
}

// receiptView is how a receipt is printed.
type receiptView struct {
	EvidenceID  string    `json:"evidence_id"`
	Court       string    `json:"court"`
	Index       uint64    `json:"index"`
	Fingerprint string    `json:"fingerprint"`
	Platform    string    `json:"platform"`
	RequestID   string    `json:"request_id"`
	Title       string    `json:"title"`
	AcceptedAt  time.Time `json:"accepted_at"`
	TreeSize    uint64    `json:"tree_size"`
	Verified    bool      `json:"verified"`
	Duplicate   bool      `json:"duplicate,omitempty"`
	// Batch is set for evidence filed in a signed batch.
	Batch *batchView `json:"batch,omitempty"`
	// Where a read was answered: the court asked, and whether from its
	// mirror of the recording court's log.
	ServedBy  string   `json:"served_by,omitempty"`
	Mirrored  bool     `json:"mirrored,omitempty"`
	Witnesses []string `json:"witnesses,omitempty"`
}

// batchView is the signed batch a submission was filed in.
type batchView struct {
	BatchID string `json:"batch_id"`
	Leaf    uint32 `json:"leaf"`
	Count   uint32 `json:"count"`
}

func batchViewOf(f *evidence.BatchFiling) *batchView {
	if f == nil {
		return nil
	}
	return &batchView{BatchID: f.Header.BatchID, Leaf: f.Leaf, Count: f.Header.Count}
}

func viewOf(r *evidence.Receipt, dup bool) receiptView {
	h, _ := checkpoint.ParseUnverified(r.SignedHead)
	e := r.Entry
	return receiptView{EvidenceID: e.EvidenceID, Court: e.Court, Index: e.Index, Fingerprint: hex.EncodeToString(e.Submission.Fingerprint[:]),
		Platform: e.Submission.Platform, RequestID: e.Submission.RequestID, Title: e.Submission.Title, AcceptedAt: e.AcceptedAt,
		TreeSize: h.Size, Verified: true, Duplicate: dup, Batch: batchViewOf(e.Batch)}
}

// unverifiedView is a receipt as the court sent it, not checked here.
func unverifiedView(r *pb.Receipt) receiptView {
	v := receiptView{}
	if e, err := evidence.UnmarshalEntry(r.GetEntry().GetCanonical()); err == nil {
		rc := &evidence.Receipt{Entry: *e, SignedHead: []byte(r.GetTreeHead().GetNote())}
		v = viewOf(rc, r.GetDuplicate())
	} else {
		v.EvidenceID, v.Court = r.GetEntry().GetEvidenceId(), r.GetEntry().GetCourt()
	}
	v.Verified = false
	return v
}

func (v receiptView) withProvenance(p *pb.Provenance) receiptView {
	v.ServedBy, v.Mirrored, v.Witnesses = p.GetServedBy(), p.GetMirrored(), p.GetWitnesses()
	return v
}

func (v receiptView) print(w io.Writer) {
	check := "proof verified against the court's signed head"
	if !v.Verified {
		check = "NOT verified here (give --trust) against the head"
	}
	fmt.Fprintf(w, "evidence %s recorded by %s, index %d\n  fingerprint %s\n  filed by %s (request %s): %q\n  accepted %s; %s of size %d\n",
		v.EvidenceID, v.Court, v.Index, v.Fingerprint, v.Platform, v.RequestID, v.Title, v.AcceptedAt.Format(time.RFC3339Nano), check, v.TreeSize)
	if b := v.Batch; b != nil {
		fmt.Fprintf(w, "  filed in batch %s, entry %d of %d, signed once by the platform\n", b.BatchID, b.Leaf+1, b.Count)
	}
	if v.ServedBy != "" {
		from := "its own ledger"
		if v.Mirrored {
			from = "its mirror of " + v.Court
		}
		fmt.Fprintf(w, "  served by %s from %s\n", v.ServedBy, from)
	}
	if len(v.Witnesses) > 0 {
		fmt.Fprintf(w, "  witnessed by %s\n", strings.Join(v.Witnesses, ", "))
	}
}

// submitResult is what submit prints with --json.
type submitResult struct {
	Filed []receiptView `json:"filed"`
	// Unverified: the court says it recorded these, but their receipts did
	// not verify against the trust file (exit code 9).
	Unverified []unverifiedFiling `json:"unverified"`
	Failed     []failedFiling     `json:"failed"`
	Skipped    []skipped          `json:"skipped"`
}

type unverifiedFiling struct {
	Path       string `json:"path"`
	EvidenceID string `json:"evidence_id"`
	Error      string `json:"error"`
}

type failedFiling struct {
	Path  string `json:"path"`
	Error string `json:"error"`
}

func submitCmd(r *remote) *cobra.Command {
	var (
		platform, keyFile, category, title, requestID, fingerprint string
		batchSize                                                  int
	)
	cmd := &cobra.Command{
		Use:   "submit [FILE|DIR...]",
		Short: "File the SM3 fingerprints of files (or --fingerprint) with a court; prints verified receipts",
		Long: `submit fingerprints each file (directories are walked; symlinks are followed
to files, loops refused), signs a submission per file with the platform's key
and files it. A file's title defaults to its name, or to its path inside the
directory named (sub/a.txt). The request ID defaults to "fp-" and the first
32 hex digits of the fingerprint, so filing the same file again shows the
original receipt instead of making a second entry; give --request-id to file
it again on purpose. Needs --trust to verify receipts.

Several files are signed once per batch of up to --batch files (one SM2
signature over the root of the batch's Merkle tree: docs/formats.md), and
each is still recorded as its own evidence with its own receipt. A batch
the court refuses whole (its signature, its time) is reported for each of
its files.

What is not filed is said, with why: skipped (not a regular file, a symlink
to nothing, a loop), failed (refused by the court) or filed but unverified
(the receipt did not verify against --trust: the evidence ID is printed).
Exit codes: 0 all filed and verified; 9 filed, but a receipt did not verify
against the trust file; 1 anything not filed, or nothing to file; 2 a wrong
command line.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if r.trust == "" {
				return fmt.Errorf("%w: --trust is required: submit returns only verified receipts", errUsage)
			}
			if (fingerprint == "") == (len(args) == 0) {
				return fmt.Errorf("%w: give files or --fingerprint, not both", errUsage)
			}
			if batchSize < 1 || batchSize > evidence.MaxBatchSubmissions {
				return fmt.Errorf("%w: --batch %d: give 1 to %d files per batch (1 signs each file alone)", errUsage, batchSize, evidence.MaxBatchSubmissions)
			}
			if fingerprint != "" && strings.TrimSpace(title) == "" {
				// Without a file there is no name to default to (it was ".").
				return fmt.Errorf("%w: --fingerprint needs --title: there is no file name to use as the title", errUsage)
			}
			kp, err := os.ReadFile(keyFile)
			if err != nil {
				return fmt.Errorf("--key: %w", err)
			}
			key, err := sm2.ParsePrivateKeyPEM(kp)
			if err != nil {
				return fmt.Errorf("--key %s: %w", keyFile, err)
			}
			if _, err := readTrust(r.trust); err != nil {
				return err
			}
			var (
				jobs []filingJob
				res  = submitResult{Filed: []receiptView{}, Unverified: []unverifiedFiling{}, Failed: []failedFiling{}, Skipped: []skipped{}}
			)
			if fingerprint != "" {
				fp, err := evidence.ParseFingerprint(fingerprint)
				if err != nil {
					return fmt.Errorf("%w: --fingerprint: %w", errUsage, err)
				}
				jobs = append(jobs, filingJob{fileJob: fileJob{"--fingerprint", title}, fp: fp})
			} else {
				files, skips, err := expand(args)
				if err != nil {
					return err
				}
				res.Skipped = append(res.Skipped, skips...)
				for _, s := range skips {
					fmt.Fprintf(cmd.ErrOrStderr(), "evidencectl: skipped %s: %s\n", s.Path, s.Reason)
				}
				for _, f := range files {
					fp, _, err := fingerprintFileProgress(cmd, f.Path)
					if err != nil {
						res.Failed = append(res.Failed, failedFiling{f.Path, err.Error()})
						continue
					}
					jobs = append(jobs, filingJob{fileJob: f, fp: fp})
				}
			}
			ctx, cancel := withTimeout(r)
			defer cancel()
			fl := filing{platform: platform, key: key, category: evidence.Category(category), title: title, requestID: requestID, batchSize: batchSize}
			if err := fl.file(ctx, cmd, r, jobs, &res); err != nil {
				return err
			}
			if err := printSubmitResult(cmd, res); err != nil {
				return err
			}
			return submitOutcome(res, r.trust, func() error {
				return fmt.Errorf("nothing filed: no file to file in %s (%d skipped, listed above)", strings.Join(args, " "), len(res.Skipped))
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&platform, "platform", "", "the platform's registered ID")
	f.StringVar(&keyFile, "key", "", "the platform's SM2 private key (PKCS#8 PEM)")
	f.StringVar(&category, "category", string(evidence.CategoryDocument), fmt.Sprintf("one of %v", evidence.Categories()))
	f.StringVar(&title, "title", "", "title (default: the file's name, or its path inside the directory named; required with --fingerprint)")
	f.StringVar(&requestID, "request-id", "", "idempotency key (default: derived from the fingerprint)")
	f.StringVar(&fingerprint, "fingerprint", "", "file a fingerprint (64 hex digits) instead of files")
	f.IntVar(&batchSize, "batch", 256, fmt.Sprintf("sign up to this many files at once, as one batch (1 to %d; 1: sign each alone)", evidence.MaxBatchSubmissions))
	cmd.MarkFlagRequired("platform")
	cmd.MarkFlagRequired("key")
	return cmd
}

// filingJob is one fingerprint to file: of a file, of --fingerprint, or of
// a capture's manifest.
type filingJob struct {
	fileJob
	fp       evidence.Fingerprint
	metadata map[string]string // filed with the submission
}

// filing is how submit, and capture --submit, file fingerprints.
type filing struct {
	platform  string
	key       *sm2.PrivateKey
	category  evidence.Category
	title     string // for every job if set; else each job's own
	requestID string // for every job if set; else derived from each fingerprint
	batchSize int
}

// file files jobs with the court behind r and adds each outcome to res:
// filed (receipt verified), unverified, or failed with why.
func (f filing) file(ctx context.Context, cmd *cobra.Command, r *remote, jobs []filingJob, res *submitResult) error {
	if len(jobs) == 0 {
		return nil
	}
	c, err := r.connect(ctx, f.platform, f.key, true)
	if err != nil {
		return err
	}
	defer c.Close()
	bar := newBar(cmd, int64(len(jobs)), "filing")
	subOf := func(j filingJob) evidence.Submission {
		t := f.title
		if t == "" {
			t = j.Title
		}
		rid := f.requestID
		if rid == "" {
			rid = "fp-" + hex.EncodeToString(j.fp[:16])
		}
		return evidence.Submission{RequestID: rid, Fingerprint: j.fp, Category: f.category, Title: t, Metadata: j.metadata}
	}
	// record files the outcome of one submission: rc, or err
	// (a refusal with AlreadyExists of a derived request ID
	// shows the earlier filing if it is of the same file).
	record := func(j filingJob, rid string, rc *evidence.Receipt, dup bool, err error) {
		if status.Code(err) == codes.AlreadyExists && f.requestID == "" {
			// Filed before under the derived request ID, at another
			// time: show that filing if it is of the same file.
			rc, err = c.Original(ctx, rid, j.fp)
			dup = err == nil
		}
		var unverified *client.UnverifiedError
		switch {
		case errors.As(err, &unverified):
			res.Unverified = append(res.Unverified, unverifiedFiling{j.Path, unverified.EvidenceID, plain(receiptError(unverified.Err).Error())})
		case err != nil:
			res.Failed = append(res.Failed, failedFiling{j.Path, describe(err).Error()})
		default:
			res.Filed = append(res.Filed, viewOf(rc, dup))
		}
		bar.Add(1)
	}
	single := jobs
	if f.batchSize > 1 && f.requestID == "" && len(jobs) > 1 {
		// Signed once per batch; what cannot be in a batch (a
		// second file of the same content, so of the same
		// request ID) is filed alone after.
		var batched []filingJob
		batched, single = splitBatchable(jobs, func(j filingJob) string { return subOf(j).RequestID })
		for start := 0; start < len(batched); start += f.batchSize {
			chunk := batched[start:min(start+f.batchSize, len(batched))]
			subs := make([]evidence.Submission, len(chunk))
			for i, j := range chunk {
				subs[i] = subOf(j)
			}
			submitBatch(ctx, c, f.platform, subs, func(i int, rc *evidence.Receipt, dup bool, err error) {
				record(chunk[i], subs[i].RequestID, rc, dup, err)
			})
		}
	}
	for _, j := range single {
		sub := subOf(j)
		s, err := c.Sign(sub)
		if err != nil {
			res.Failed = append(res.Failed, failedFiling{j.Path, err.Error()})
			bar.Add(1)
			continue
		}
		rc, dup, err := c.Submit(ctx, s)
		record(j, sub.RequestID, rc, dup, err)
	}
	bar.Finish()
	return nil
}

// printSubmitResult prints what was filed, unverified and not filed.
func printSubmitResult(cmd *cobra.Command, res submitResult) error {
	if jsonOutput(cmd) {
		if err := printJSON(cmd.OutOrStdout(), res); err != nil {
			return err
		}
	} else {
		w := cmd.OutOrStdout()
		for _, v := range res.Filed {
			if v.Duplicate {
				fmt.Fprintln(w, "(filed before: this is the original receipt)")
			}
			v.print(w)
		}
		for _, u := range res.Unverified {
			fmt.Fprintf(w, "%s: evidence %s filed, but the receipt did not verify against your trust file: %s\n", u.Path, u.EvidenceID, u.Error)
		}
		for _, f := range res.Failed {
			fmt.Fprintf(w, "%s: NOT filed: %s\n", f.Path, f.Error)
		}
	}
	return nil
}

// submitOutcome is the error submit exits with: anything not filed, nothing
// filed (none()), or a receipt that did not verify against trust.
func submitOutcome(res submitResult, trust string, none func() error) error {
	total := len(res.Filed) + len(res.Unverified)
	switch {
	case len(res.Failed) > 0:
		return fmt.Errorf("%d of %d not filed (listed above); %d filed", len(res.Failed), len(res.Failed)+total, total)
	case total == 0:
		return none()
	case len(res.Unverified) > 0:
		return fmt.Errorf("%w: %d of %d (evidence IDs above); check the court's key in %s", errUnverified, len(res.Unverified), total, trust)
	}
	return nil
}

// splitBatchable puts aside, to be filed alone, every job whose request ID
// an earlier job has: a batch may not hold a request ID twice.
func splitBatchable[J any](jobs []J, rid func(J) string) (batched, alone []J) {
	seen := map[string]bool{}
	for _, j := range jobs {
		if id := rid(j); seen[id] {
			alone = append(alone, j)
		} else {
			seen[id] = true
			batched = append(batched, j)
		}
	}
	return batched, alone
}

// submitBatch signs subs as one batch and files it, calling done with the
// outcome of each. A submission that cannot be signed (it does not
// validate) is refused alone, before the batch is signed; a batch the court
// refuses whole is that refusal for each of its submissions.
func submitBatch(ctx context.Context, c *client.Client, platform string, subs []evidence.Submission, done func(i int, rc *evidence.Receipt, dup bool, err error)) {
	var (
		ok  []evidence.Submission
		idx []int
	)
	for i, s := range subs {
		// Checked as SignBatch will check it, so that one bad file does
		// not keep the others from being signed.
		s.Platform, s.SignedAt = platform, time.Now()
		if err := s.Validate(); err != nil {
			done(i, nil, false, err)
			continue
		}
		ok, idx = append(ok, subs[i]), append(idx, i)
	}
	if len(ok) == 0 {
		return
	}
	h := sm3.New()
	for _, s := range ok {
		h.Write([]byte(s.RequestID + "\n"))
	}
	b, err := c.SignBatch("b-"+hex.EncodeToString(h.Sum(nil)[:16]), ok)
	if err != nil {
		for _, i := range idx {
			done(i, nil, false, err)
		}
		return
	}
	results, err := c.SubmitSignedBatch(ctx, b)
	for k, i := range idx {
		switch {
		case err != nil:
			done(i, nil, false, err)
		case results[k].Problem != nil:
			done(i, nil, false, problemErr(results[k].Problem))
		default:
			done(i, results[k].Receipt, results[k].Duplicate, results[k].Err)
		}
	}
}

// problemErr is the court's refusal of one submission of a batch, as the
// status error a call refused alone would be.
func problemErr(p *pb.Problem) error {
	code := codes.Unknown
	for c := codes.OK; c <= codes.Unauthenticated; c++ {
		if c.String() == p.GetCode() {
			code = c
		}
	}
	return status.Error(code, p.GetMessage())
}

func newBar(cmd *cobra.Command, n int64, what string) *progressbar.ProgressBar {
	if jsonOutput(cmd) || n < 2 {
		return progressbar.DefaultSilent(n)
	}
	return progressbar.NewOptions64(n, progressbar.OptionSetWriter(cmd.ErrOrStderr()), progressbar.OptionSetDescription(what),
		progressbar.OptionShowCount(), progressbar.OptionClearOnFinish())
}

// fingerprintFileProgress hashes a file, with a progress bar for big ones.
func fingerprintFileProgress(cmd *cobra.Command, name string) (sm3.Digest, int64, error) {
	f, err := os.Open(name)
	if err != nil {
		return sm3.Digest{}, 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return sm3.Digest{}, 0, err
	}
	var bar *progressbar.ProgressBar
	if fi.Size() > 64<<20 && !jsonOutput(cmd) {
		bar = progressbar.DefaultBytes(fi.Size(), "SM3 "+filepath.Base(name))
	} else {
		bar = progressbar.DefaultSilent(fi.Size())
	}
	var last int64
	d, n, err := sm3.SumReader(f, 0, func(n int64) { bar.Add64(n - last); last = n })
	bar.Finish()
	if err != nil {
		return sm3.Digest{}, 0, fmt.Errorf("fingerprint %s: %w", name, err)
	}
	return d, n, nil
}

// rawCall runs one API call and prints its answer: text, or protojson
// with --json.
func rawCall[T proto.Message](cmd *cobra.Command, r *remote, fn func(ctx context.Context, c *client.Client) (T, error)) error {
	v, err := call(r, fn)
	if err != nil {
		return err
	}
	return show(cmd, v)
}

// call runs one API call against --server within --timeout; errors come
// back described for people.
func call[T any](r *remote, fn func(ctx context.Context, c *client.Client) (T, error)) (T, error) {
	var zero T
	ctx, cancel := withTimeout(r)
	defer cancel()
	c, err := r.connect(ctx, "", nil, false)
	if err != nil {
		return zero, err
	}
	defer c.Close()
	v, err := fn(ctx, c)
	if err != nil {
		return zero, describe(err)
	}
	return v, nil
}

func getCmd(r *remote) *cobra.Command {
	return &cobra.Command{
		Use: "get EVIDENCE_ID", Short: "Get the receipt of an evidence ID, from any court (verified with --trust against the recording court's key)", Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := call(r, func(ctx context.Context, c *client.Client) (receiptView, error) {
				resp, err := c.Evidence().GetEvidence(ctx, &pb.GetEvidenceRequest{EvidenceId: args[0]})
				if err != nil {
					return receiptView{}, err
				}
				if r.trust == "" {
					return unverifiedView(resp.Receipt).withProvenance(resp.Receipt.Provenance), nil
				}
				rc, err := c.VerifyReceipt(resp.Receipt)
				if err != nil {
					return receiptView{}, receiptError(err)
				}
				return viewOf(rc, false).withProvenance(resp.Receipt.Provenance), nil
			})
			if err != nil {
				return err
			}
			if jsonOutput(cmd) {
				return printJSON(cmd.OutOrStdout(), v)
			}
			v.print(cmd.OutOrStdout())
			return nil
		},
	}
}

// lookupEntry is one recording of a fingerprint, as lookup prints it.
type lookupEntry struct {
	receiptView
	Error string `json:"error,omitempty"` // why its receipt did not verify
}

func lookupCmd(r *remote) *cobra.Command {
	var limit uint32
	cmd := &cobra.Command{
		Use: "lookup FINGERPRINT", Short: "List the entries recording a fingerprint, at any court (each receipt verified with --trust)", Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := evidence.ParseFingerprint(args[0]); err != nil {
				return fmt.Errorf("%w: %w (a fingerprint is 64 hex digits: `evidencectl fingerprint FILE` prints it)", errUsage, err)
			}
			out, err := call(r, func(ctx context.Context, c *client.Client) ([]lookupEntry, error) {
				resp, err := c.Evidence().LookupFingerprint(ctx, &pb.LookupFingerprintRequest{Fingerprint: args[0], Limit: limit})
				if err != nil {
					return nil, err
				}
				out := []lookupEntry{}
				for _, e := range resp.Entries {
					if r.trust == "" {
						out = append(out, lookupEntry{receiptView: unverifiedView(&pb.Receipt{Entry: e})})
						continue
					}
					// An entry alone proves nothing: its receipt does.
					got, err := c.Evidence().GetEvidence(ctx, &pb.GetEvidenceRequest{EvidenceId: e.EvidenceId})
					if err != nil {
						return nil, err
					}
					rc, err := c.VerifyReceipt(got.Receipt)
					if err != nil {
						out = append(out, lookupEntry{unverifiedView(got.Receipt), receiptError(err).Error()})
						continue
					}
					out = append(out, lookupEntry{receiptView: viewOf(rc, false).withProvenance(got.Receipt.Provenance)})
				}
				return out, nil
			})
			if err != nil {
				return err
			}
			bad := 0
			for _, e := range out {
				if e.Error != "" {
					bad++
				}
			}
			if jsonOutput(cmd) {
				if err := printJSON(cmd.OutOrStdout(), out); err != nil {
					return err
				}
			} else {
				if len(out) == 0 {
					fmt.Fprintln(cmd.OutOrStdout(), "no entry records this fingerprint at the court asked (nor in its mirrors of the others)")
				}
				for _, e := range out {
					e.print(cmd.OutOrStdout())
					if e.Error != "" {
						fmt.Fprintf(cmd.OutOrStdout(), "  RECEIPT DOES NOT VERIFY: %s\n", e.Error)
					}
				}
			}
			if bad > 0 {
				return fmt.Errorf("%d of %d receipts did not verify against %s", bad, len(out), r.trust)
			}
			return nil
		},
	}
	cmd.Flags().Uint32Var(&limit, "limit", 0, "at most this many entries (0: the court's default, 100)")
	return cmd
}

// headView is a signed tree head as head prints it.
type headView struct {
	Court     string    `json:"court"`
	Size      uint64    `json:"size"`
	Root      string    `json:"root"`
	Time      time.Time `json:"time"`
	Verified  bool      `json:"verified"`
	Witnesses []string  `json:"witnesses"` // trusted courts whose cosignatures verify (with --trust)
	Note      string    `json:"note"`
}

func headCmd(r *remote) *cobra.Command {
	var court string
	cmd := &cobra.Command{
		Use: "head", Short: "Print a court's latest signed tree head, the court asked's own or, with --court, its mirror of another (checked with --trust)", Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			v, err := call(r, func(ctx context.Context, c *client.Client) (headView, error) {
				resp, err := c.Evidence().GetLatestTreeHead(ctx, &pb.GetLatestTreeHeadRequest{Court: court})
				if err != nil {
					return headView{}, err
				}
				return checkHead(c, r, resp.TreeHead, court)
			})
			if err != nil {
				return err
			}
			if jsonOutput(cmd) {
				return printJSON(cmd.OutOrStdout(), v)
			}
			v.print(cmd.OutOrStdout())
			return nil
		},
	}
	cmd.Flags().StringVar(&court, "court", "", "the court whose log (default: the court asked); another court's is read from the mirror")
	return cmd
}

// checkHead verifies a head from the court against the trust file (if
// given): signed by the court it names, which is the court asked for.
func checkHead(c *client.Client, r *remote, h *pb.SignedTreeHead, court string) (headView, error) {
	if court != "" && h.GetOrigin() != court {
		return headView{}, fmt.Errorf("asked for the head of %q, the node sent one of %q", court, h.GetOrigin())
	}
	v := headView{Court: h.GetOrigin(), Size: h.GetSize(), Root: hex.EncodeToString(h.GetRoot()), Time: h.GetTime().AsTime(), Note: h.GetNote(), Witnesses: []string{}}
	if r.trust == "" {
		return v, nil
	}
	th, ws, err := c.VerifyHead([]byte(h.GetNote()))
	if err != nil {
		return headView{}, receiptError(err)
	}
	v.Court, v.Size, v.Root, v.Time, v.Verified, v.Witnesses = th.Origin, th.Size, hex.EncodeToString(th.Root), th.Time, true, ws
	return v, nil
}

func (v headView) print(w io.Writer) {
	check := "signature verified against " + v.Court + "'s key in the trust file"
	if !v.Verified {
		check = "NOT verified here (give --trust)"
	}
	ws := "none"
	if len(v.Witnesses) > 0 {
		ws = strings.Join(v.Witnesses, ", ")
	}
	fmt.Fprintf(w, "court      %s\nsize       %d\nroot       %s\ntime       %s\nchecked    %s\nwitnesses  %s\n", v.Court, v.Size, v.Root, v.Time.Format(time.RFC3339Nano), check, ws)
}

// inclusionView is an inclusion proof as proof inclusion prints it.
type inclusionView struct {
	Court      string   `json:"court"`
	Index      uint64   `json:"index"`
	TreeSize   uint64   `json:"tree_size"`
	Proof      []string `json:"proof"` // hex hashes
	EvidenceID string   `json:"evidence_id,omitempty"`
	// Verified: the proof leads from the entry (given by --evidence-id) to
	// the root of a head signed by the recording court (with --trust).
	Verified bool `json:"verified"`
}

func proofCmd(r *remote) *cobra.Command {
	var index, size, first, second uint64
	var court, evidenceID string
	cmd := &cobra.Command{Use: "proof", Short: "Inclusion and consistency proofs, of the court asked's log or, with --court, its mirror of another"}
	incl := &cobra.Command{
		Use:   "inclusion",
		Short: "Inclusion proof of --index (or --evidence-id) in the tree of --size (0: the latest head, verified with --trust)",
		Long: `inclusion asks for the proof that entry --index is in the court's tree of
--size entries (0: the latest head). With --evidence-id instead of --index,
the entry is fetched too and, with --trust, the proof is checked from the
entry to the root of the latest head, whose signature is checked against the
key of the court that recorded it: "verified" says so.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if evidenceID != "" && cmd.Flags().Changed("index") {
				return fmt.Errorf("%w: give --index or --evidence-id, not both", errUsage)
			}
			v, err := call(r, func(ctx context.Context, c *client.Client) (inclusionView, error) {
				v := inclusionView{Court: court, Index: index, EvidenceID: evidenceID}
				var entry *evidence.Entry
				if evidenceID != "" {
					got, err := c.Evidence().GetEvidence(ctx, &pb.GetEvidenceRequest{EvidenceId: evidenceID})
					if err != nil {
						return v, err
					}
					if entry, err = evidence.UnmarshalEntry(got.GetReceipt().GetEntry().GetCanonical()); err != nil {
						return v, fmt.Errorf("the court sent an entry that does not decode: %w", err)
					}
					if court != "" && court != entry.Court {
						return v, fmt.Errorf("%w: evidence %s was recorded by %s, not --court %s", errUsage, evidenceID, entry.Court, court)
					}
					v.Court, v.Index = entry.Court, entry.Index
				}
				var head headView
				if size == 0 && r.trust != "" {
					resp, err := c.Evidence().GetLatestTreeHead(ctx, &pb.GetLatestTreeHeadRequest{Court: v.Court})
					if err != nil {
						return v, err
					}
					if head, err = checkHead(c, r, resp.TreeHead, v.Court); err != nil {
						return v, err
					}
					v.TreeSize = head.Size
				} else {
					v.TreeSize = size
				}
				resp, err := c.Evidence().GetInclusionProof(ctx, &pb.GetInclusionProofRequest{Court: v.Court, Index: v.Index, TreeSize: v.TreeSize})
				if err != nil {
					return v, err
				}
				v.TreeSize = resp.TreeSize
				for _, h := range resp.Proof {
					v.Proof = append(v.Proof, hex.EncodeToString(h))
				}
				if entry != nil && head.Verified {
					root, _ := hex.DecodeString(head.Root)
					if err := merkle.VerifyInclusion(v.Index, v.TreeSize, entry.LeafHash(), resp.Proof, root); err != nil {
						return v, fmt.Errorf("the inclusion proof of %s does not lead to the root of %s's signed head of size %d: %w", evidenceID, v.Court, v.TreeSize, err)
					}
					v.Verified = true
				}
				return v, nil
			})
			if err != nil {
				return err
			}
			if jsonOutput(cmd) {
				return printJSON(cmd.OutOrStdout(), v)
			}
			w := cmd.OutOrStdout()
			of := v.Court
			if of == "" {
				of = "the court asked"
			}
			fmt.Fprintf(w, "entry %d of %s in its tree of %d entries:\n", v.Index, of, v.TreeSize)
			for _, h := range v.Proof {
				fmt.Fprintf(w, "  %s\n", h)
			}
			if v.Verified {
				fmt.Fprintf(w, "verified: the entry of %s leads to the root of the head %s signed\n", v.EvidenceID, v.Court)
			} else {
				fmt.Fprintln(w, "not verified here (give --evidence-id and --trust to check it)")
			}
			return nil
		},
	}
	incl.Flags().Uint64Var(&index, "index", 0, "entry index")
	incl.Flags().StringVar(&evidenceID, "evidence-id", "", "the entry of this evidence ID (instead of --index): the proof is then checked with --trust")
	incl.Flags().Uint64Var(&size, "size", 0, "tree size (0: latest)")
	cons := &cobra.Command{
		Use: "consistency", Short: "Consistency proof from --first to --second (0: the latest head, verified with --trust)", Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return rawCall(cmd, r, func(ctx context.Context, c *client.Client) (*pb.GetConsistencyProofResponse, error) {
				second, err := pinSize(ctx, c, r, court, second)
				if err != nil {
					return nil, err
				}
				return c.Evidence().GetConsistencyProof(ctx, &pb.GetConsistencyProofRequest{Court: court, First: first, Second: second})
			})
		},
	}
	cons.Flags().Uint64Var(&first, "first", 0, "older tree size")
	cons.Flags().Uint64Var(&second, "second", 0, "newer tree size (0: latest)")
	for _, c := range []*cobra.Command{incl, cons} {
		c.Flags().StringVar(&court, "court", "", "the court whose log (default: the court asked)")
	}
	cmd.AddCommand(incl, cons)
	return cmd
}

// pinSize is the tree size a proof is asked at: size if given; with a
// trust file and no size, that of the court's latest head, whose
// signature is verified first (by the recording court's key), so the
// proof is of a tree the court signed.
func pinSize(ctx context.Context, c *client.Client, r *remote, court string, size uint64) (uint64, error) {
	if size != 0 || r.trust == "" {
		return size, nil
	}
	resp, err := c.Evidence().GetLatestTreeHead(ctx, &pb.GetLatestTreeHeadRequest{Court: court})
	if err != nil {
		return 0, err
	}
	h, err := checkHead(c, r, resp.TreeHead, court)
	if err != nil {
		return 0, err
	}
	return h.Size, nil
}

// printNodes prints a table of a court's nodes.
func printNodes(w io.Writer, nodes []*pb.Node) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tGRPC\tRAFT\tREADY\tHEALTH\tREASON")
	for _, n := range nodes {
		reason := n.Reason
		if reason == "" {
			reason = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%s\t%s\n", n.NodeId, n.ApiAddress, n.RaftAddress, n.Ready, n.Health, reason)
	}
	return tw.Flush()
}

// membershipView is what node add and node remove did, and the court's
// nodes afterwards as the court answers them.
type membershipView struct {
	Action string     `json:"action"` // "added" or "removed"
	NodeID string     `json:"node_id"`
	Nodes  []*pb.Node `json:"nodes"`
}

// changeMembership runs a membership change, then reads the court's nodes
// back, so that the command says what the court now holds.
func changeMembership(cmd *cobra.Command, r *remote, action, id string, change func(ctx context.Context, c *client.Client) error) error {
	v, err := call(r, func(ctx context.Context, c *client.Client) (membershipView, error) {
		if err := change(ctx, c); err != nil {
			return membershipView{}, err
		}
		st, err := c.Admin().GetClusterStatus(ctx, &pb.GetClusterStatusRequest{})
		if err != nil {
			return membershipView{}, fmt.Errorf("node %s %s, but the court's nodes could not be read back: %w", id, action, err)
		}
		return membershipView{Action: action, NodeID: id, Nodes: st.Nodes}, nil
	})
	if err != nil {
		return err
	}
	if jsonOutput(cmd) {
		return printJSON(cmd.OutOrStdout(), v)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "node %s %s; the court's nodes now:\n", id, action)
	return printNodes(cmd.OutOrStdout(), v.Nodes)
}

func nodeCmd(r *remote) *cobra.Command {
	var raftAddr, apiAddr string
	cmd := &cobra.Command{Use: "node", Short: "Add or remove a court node"}
	add := &cobra.Command{
		Use: "add NODE_ID", Short: "Add a voter (it catches up by snapshot)", Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return changeMembership(cmd, r, "added", args[0], func(ctx context.Context, c *client.Client) error {
				_, err := c.Admin().AddNode(ctx, &pb.AddNodeRequest{Node: &pb.Node{NodeId: args[0], RaftAddress: raftAddr, ApiAddress: apiAddr}})
				return err
			})
		},
	}
	add.Flags().StringVar(&raftAddr, "raft-addr", "", "the node's Raft address")
	add.Flags().StringVar(&apiAddr, "api-addr", "", "the node's gRPC address")
	remove := &cobra.Command{
		Use: "remove NODE_ID", Short: "Remove a node from the court", Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return changeMembership(cmd, r, "removed", args[0], func(ctx context.Context, c *client.Client) error {
				_, err := c.Admin().RemoveNode(ctx, &pb.RemoveNodeRequest{NodeId: args[0]})
				return err
			})
		},
	}
	cmd.AddCommand(add, remove)
	return cmd
}
