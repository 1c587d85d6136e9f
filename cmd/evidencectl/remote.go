package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/mod/sumdb/note"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/courtledger/courtledger/api/client"
	pb "github.com/courtledger/courtledger/api/gen/courtledger/v1"
	"github.com/courtledger/courtledger/crypto/checkpoint"
	"github.com/courtledger/courtledger/crypto/sm2"
	"github.com/courtledger/courtledger/crypto/sm3"
	"github.com/courtledger/courtledger/evidence"
	"github.com/courtledger/courtledger/evidence/certificate"
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

// connect returns a client of the court behind --server; with a trust file,
// it looks up that court's key so receipts are verified. Every call goes
// to a node of --server that says it is ready, the next one if a node does
// not answer within --attempt-timeout.
func (r *remote) connect(ctx context.Context, platform string, key *sm2.PrivateKey) (*client.Client, error) {
	dial, err := r.creds.dialOptions()
	if err != nil {
		return nil, err
	}
	c, err := client.New(client.Config{Endpoints: r.servers, Platform: platform, Key: key, DialOptions: dial, AttemptTimeout: r.attempt})
	if err != nil {
		return nil, err
	}
	if r.trust == "" {
		return c, nil
	}
	st, err := c.Admin().GetClusterStatus(ctx, &pb.GetClusterStatusRequest{})
	if err != nil {
		c.Close()
		return nil, describe(err)
	}
	keys, err := trusted(r.trust, st.Court)
	if err != nil {
		c.Close()
		return nil, err
	}
	c.Close()
	return client.New(client.Config{Endpoints: r.servers, Platform: platform, Key: key,
		Court: keys[0], CourtKeys: keys[1:], DialOptions: dial, AttemptTimeout: r.attempt})
}

// trusted returns a court's keys in a trust file, in the file's order; a
// court that rotated its key has several, and any of them verifies.
func trusted(path, court string) ([]*checkpoint.Verifier, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	trust, err := certificate.ParseTrust(f)
	if err != nil {
		return nil, fmt.Errorf("trust file %s: %w", path, err)
	}
	keys, ok := trust.Court(court)
	if !ok {
		return nil, fmt.Errorf("court %q is not in trust file %s", court, path)
	}
	return keys, nil
}

// describe turns a gRPC error into the court's own words.
func describe(err error) error {
	if st, ok := status.FromError(err); ok {
		return fmt.Errorf("court says %s: %s", st.Code(), st.Message())
	}
	return err
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func remoteCmds() []*cobra.Command {
	r := &remote{}
	cmds := []*cobra.Command{submitCmd(r), verifyCmd(r), certCmd(r), getCmd(r), lookupCmd(r), headCmd(r), proofCmd(r), clusterCmd(r), nodeCmd(r), platformCmd(r), alarmsCmd(r), syncCmd(r)}
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
}

func viewOf(r *evidence.Receipt, dup bool) receiptView {
	h, _ := checkpoint.ParseUnverified(r.SignedHead)
	e := r.Entry
	return receiptView{e.EvidenceID, e.Court, e.Index, hex.EncodeToString(e.Submission.Fingerprint[:]), e.Submission.Platform,
		e.Submission.RequestID, e.Submission.Title, e.AcceptedAt, h.Size, true, dup}
}

func (v receiptView) print(w io.Writer) {
	fmt.Fprintf(w, "evidence %s at %s, index %d\n  fingerprint %s\n  filed by %s (request %s): %q\n  accepted %s; proof verified against the court's signed head of size %d\n",
		v.EvidenceID, v.Court, v.Index, v.Fingerprint, v.Platform, v.RequestID, v.Title, v.AcceptedAt.Format(time.RFC3339Nano), v.TreeSize)
}

func submitCmd(r *remote) *cobra.Command {
	var platform, keyFile, category, title, requestID, fingerprint string
	cmd := &cobra.Command{
		Use:   "submit [FILE|DIR...]",
		Short: "File the SM3 fingerprints of files (or --fingerprint) with a court; prints verified receipts",
		Long: `submit fingerprints each file (directories are walked), signs a submission per
file with the platform's key and files it. The request ID defaults to
"fp-" and the first 32 hex digits of the fingerprint, so filing the same file
again shows the original receipt instead of making a second entry; give
--request-id to file it again on purpose. Needs --trust to verify receipts.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if r.trust == "" {
				return fmt.Errorf("%w: --trust is required: submit returns only verified receipts", errUsage)
			}
			if (fingerprint == "") == (len(args) == 0) {
				return fmt.Errorf("%w: give files or --fingerprint, not both", errUsage)
			}
			if fingerprint != "" && strings.TrimSpace(title) == "" {
				// Without a file there is no name to default to (it was ".").
				return fmt.Errorf("%w: --fingerprint needs --title: there is no file name to use as the title", errUsage)
			}
			kp, err := os.ReadFile(keyFile)
			if err != nil {
				return err
			}
			key, err := sm2.ParsePrivateKeyPEM(kp)
			if err != nil {
				return err
			}
			type job struct {
				name string
				fp   evidence.Fingerprint
			}
			var jobs []job
			if fingerprint != "" {
				fp, err := evidence.ParseFingerprint(fingerprint)
				if err != nil {
					return err
				}
				jobs = append(jobs, job{title, fp})
			} else {
				files, err := expand(args)
				if err != nil {
					return err
				}
				for _, f := range files {
					fp, _, err := fingerprintFileProgress(cmd, f)
					if err != nil {
						return err
					}
					jobs = append(jobs, job{f, fp})
				}
			}
			ctx, cancel := withTimeout(r)
			defer cancel()
			c, err := r.connect(ctx, platform, key)
			if err != nil {
				return err
			}
			defer c.Close()
			bar := newBar(cmd, int64(len(jobs)), "filing")
			var views []receiptView
			for _, j := range jobs {
				t := title
				if t == "" {
					t = filepath.Base(j.name)
				}
				rid := requestID
				if rid == "" {
					rid = "fp-" + hex.EncodeToString(j.fp[:16])
				}
				s, err := c.Sign(evidence.Submission{RequestID: rid, Fingerprint: j.fp, Category: evidence.Category(category), Title: t})
				if err != nil {
					return fmt.Errorf("%s: %w", j.name, err)
				}
				rc, dup, err := c.Submit(ctx, s)
				if status.Code(err) == codes.AlreadyExists && requestID == "" {
					// Filed before under the derived request ID, at another
					// time: show that filing if it is of the same file.
					rc, err = c.Original(ctx, rid, j.fp)
					dup = err == nil
				}
				if err != nil {
					return fmt.Errorf("%s: %w", j.name, describe(err))
				}
				views = append(views, viewOf(rc, dup))
				bar.Add(1)
			}
			bar.Finish()
			if jsonOutput(cmd) {
				return printJSON(cmd.OutOrStdout(), views)
			}
			for _, v := range views {
				if v.Duplicate {
					fmt.Fprintln(cmd.OutOrStdout(), "(filed before: this is the original receipt)")
				}
				v.print(cmd.OutOrStdout())
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&platform, "platform", "", "the platform's registered ID")
	f.StringVar(&keyFile, "key", "", "the platform's SM2 private key (PKCS#8 PEM)")
	f.StringVar(&category, "category", string(evidence.CategoryDocument), fmt.Sprintf("one of %v", evidence.Categories()))
	f.StringVar(&title, "title", "", "title (default: the file's name; required with --fingerprint)")
	f.StringVar(&requestID, "request-id", "", "idempotency key (default: derived from the fingerprint)")
	f.StringVar(&fingerprint, "fingerprint", "", "file a fingerprint (64 hex digits) instead of files")
	cmd.MarkFlagRequired("platform")
	cmd.MarkFlagRequired("key")
	return cmd
}

// expand lists the regular files named, walking directories.
func expand(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		err := filepath.WalkDir(a, func(p string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.Type().IsRegular() {
				out = append(out, p)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
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

// rawCall runs one API call and prints the response as JSON (protojson
// field names), for the read commands.
func rawCall[T any](cmd *cobra.Command, r *remote, fn func(ctx context.Context, c *client.Client) (T, error)) error {
	v, err := call(r, fn)
	if err != nil {
		return err
	}
	return printJSON(cmd.OutOrStdout(), v)
}

// call runs one API call against --server within --timeout; errors from the
// court come back described for people.
func call[T any](r *remote, fn func(ctx context.Context, c *client.Client) (T, error)) (T, error) {
	var zero T
	ctx, cancel := withTimeout(r)
	defer cancel()
	c, err := r.connect(ctx, "", nil)
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
		Use: "get EVIDENCE_ID", Short: "Get the receipt of an evidence ID (verified with --trust)", Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return rawCall(cmd, r, func(ctx context.Context, c *client.Client) (any, error) {
				resp, err := c.Evidence().GetEvidence(ctx, &pb.GetEvidenceRequest{EvidenceId: args[0]})
				if err != nil {
					return nil, err
				}
				if r.trust == "" {
					return resp.Receipt, nil
				}
				rc, err := c.VerifyReceipt(resp.Receipt)
				if err != nil {
					return nil, err
				}
				return viewOf(rc, false), nil
			})
		},
	}
}

func lookupCmd(r *remote) *cobra.Command {
	return &cobra.Command{
		Use: "lookup FINGERPRINT", Short: "List the entries recording a fingerprint", Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return rawCall(cmd, r, func(ctx context.Context, c *client.Client) (any, error) {
				return c.Evidence().LookupFingerprint(ctx, &pb.LookupFingerprintRequest{Fingerprint: args[0]})
			})
		},
	}
}

func headCmd(r *remote) *cobra.Command {
	return &cobra.Command{
		Use: "head", Short: "Print the court's latest signed tree head (checked with --trust)", Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return rawCall(cmd, r, func(ctx context.Context, c *client.Client) (any, error) {
				resp, err := c.Evidence().GetLatestTreeHead(ctx, &pb.GetLatestTreeHeadRequest{})
				if err != nil || r.trust == "" {
					return resp, err
				}
				keys, err := trusted(r.trust, resp.TreeHead.Origin)
				if err != nil {
					return nil, err
				}
				vs := make([]note.Verifier, len(keys))
				for i, k := range keys {
					vs[i] = k
				}
				if _, _, err := checkpoint.OpenAny([]byte(resp.TreeHead.Note), vs); err != nil {
					return nil, err
				}
				return map[string]any{"verified": true, "note": resp.TreeHead.Note}, nil
			})
		},
	}
}

func proofCmd(r *remote) *cobra.Command {
	var index, size, first, second uint64
	cmd := &cobra.Command{Use: "proof", Short: "Inclusion and consistency proofs"}
	incl := &cobra.Command{
		Use: "inclusion", Short: "Inclusion proof of --index in the tree of --size (0: latest)", Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return rawCall(cmd, r, func(ctx context.Context, c *client.Client) (any, error) {
				return c.Evidence().GetInclusionProof(ctx, &pb.GetInclusionProofRequest{Index: index, TreeSize: size})
			})
		},
	}
	incl.Flags().Uint64Var(&index, "index", 0, "entry index")
	incl.Flags().Uint64Var(&size, "size", 0, "tree size (0: latest)")
	cons := &cobra.Command{
		Use: "consistency", Short: "Consistency proof from --first to --second (0: latest)", Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return rawCall(cmd, r, func(ctx context.Context, c *client.Client) (any, error) {
				return c.Evidence().GetConsistencyProof(ctx, &pb.GetConsistencyProofRequest{First: first, Second: second})
			})
		},
	}
	cons.Flags().Uint64Var(&first, "first", 0, "older tree size")
	cons.Flags().Uint64Var(&second, "second", 0, "newer tree size (0: latest)")
	cmd.AddCommand(incl, cons)
	return cmd
}

func clusterCmd(r *remote) *cobra.Command {
	cmd := &cobra.Command{Use: "cluster", Short: "The court's nodes"}
	cmd.AddCommand(&cobra.Command{
		Use: "status", Short: "This node's view of the court", Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return rawCall(cmd, r, func(ctx context.Context, c *client.Client) (any, error) {
				return c.Admin().GetClusterStatus(ctx, &pb.GetClusterStatusRequest{})
			})
		},
	})
	return cmd
}

func nodeCmd(r *remote) *cobra.Command {
	var raftAddr, apiAddr string
	cmd := &cobra.Command{Use: "node", Short: "Add or remove a court node"}
	add := &cobra.Command{
		Use: "add NODE_ID", Short: "Add a voter (it catches up by snapshot)", Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return rawCall(cmd, r, func(ctx context.Context, c *client.Client) (any, error) {
				return c.Admin().AddNode(ctx, &pb.AddNodeRequest{Node: &pb.Node{NodeId: args[0], RaftAddress: raftAddr, ApiAddress: apiAddr}})
			})
		},
	}
	add.Flags().StringVar(&raftAddr, "raft-addr", "", "the node's Raft address")
	add.Flags().StringVar(&apiAddr, "api-addr", "", "the node's gRPC address")
	remove := &cobra.Command{
		Use: "remove NODE_ID", Short: "Remove a node from the court", Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return rawCall(cmd, r, func(ctx context.Context, c *client.Client) (any, error) {
				return c.Admin().RemoveNode(ctx, &pb.RemoveNodeRequest{NodeId: args[0]})
			})
		},
	}
	cmd.AddCommand(add, remove)
	return cmd
}

func platformCmd(r *remote) *cobra.Command {
	var pubFile string
	cmd := &cobra.Command{Use: "platform", Short: "Register, revoke and list platforms' SM2 keys"}
	reg := &cobra.Command{
		Use: "register PLATFORM_ID", Short: "Register a platform's public key", Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pemBytes, err := os.ReadFile(pubFile)
			if err != nil {
				return err
			}
			return rawCall(cmd, r, func(ctx context.Context, c *client.Client) (any, error) {
				return c.Admin().RegisterPlatform(ctx, &pb.RegisterPlatformRequest{PlatformId: args[0], PublicKeyPem: string(pemBytes)})
			})
		},
	}
	reg.Flags().StringVar(&pubFile, "public-key", "", "the platform's SM2 public key (PEM)")
	reg.MarkFlagRequired("public-key")
	revoke := &cobra.Command{
		Use: "revoke PLATFORM_ID", Short: "Stop accepting a platform's submissions", Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return rawCall(cmd, r, func(ctx context.Context, c *client.Client) (any, error) {
				return c.Admin().RevokePlatform(ctx, &pb.RevokePlatformRequest{PlatformId: args[0]})
			})
		},
	}
	list := &cobra.Command{
		Use: "list", Short: "List registered platforms", Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return rawCall(cmd, r, func(ctx context.Context, c *client.Client) (any, error) {
				return c.Admin().ListPlatforms(ctx, &pb.ListPlatformsRequest{})
			})
		},
	}
	cmd.AddCommand(reg, revoke, list)
	return cmd
}
