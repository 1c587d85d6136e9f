package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/courtledger/courtledger/api/client"
	pb "github.com/courtledger/courtledger/api/gen/courtledger/v1"
	"github.com/courtledger/courtledger/crypto/sm3"
	"github.com/courtledger/courtledger/evidence"
	"github.com/courtledger/courtledger/evidence/certificate"
	"github.com/courtledger/courtledger/evidence/certpdf/attach"
)

func certCmd(r *remote) *cobra.Command {
	cmd := &cobra.Command{Use: "cert", Short: "Proof certificates (存证证明): download from a court, verify offline"}
	cmd.AddCommand(certVerifyCmd(r), certGetCmd(r))
	return cmd
}

func certVerifyCmd(r *remote) *cobra.Command {
	var file, fingerprint string
	var minWitnesses int
	cmd := &cobra.Command{
		Use:   "verify CERT.json|CERT.pdf",
		Short: "Check a certificate offline against --trust, and optionally the original --file",
		Long: `verify checks a certificate with no network: the entry, the inclusion proof,
the origin court's SM2 signature on the tree head against the trust file, the
witnesses' cosignatures, and with --file the file's SM3 against the recorded
fingerprint. It prints one verdict with a reason, then what the certificate
says. CERT may be the certificate's JSON or its PDF, whose attached
certificate.json is what is checked (the printed page is for people).

` + exitCodesHelp,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := loadTrust(r.trust)
			if err != nil {
				return err
			}
			raw, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			var p certificate.Policy
			p.MinWitnesses = minWitnesses
			switch {
			case file != "" && fingerprint != "":
				return fmt.Errorf("%w: give --file or --fingerprint, not both", errUsage)
			case file != "":
				fp, _, err := fingerprintFileProgress(cmd, file)
				if err != nil {
					return err
				}
				p.Fingerprint = &fp
			case fingerprint != "":
				fp, err := evidence.ParseFingerprint(fingerprint)
				if err != nil {
					return err
				}
				p.Fingerprint = &fp
			}
			// The web page's verifier (court/web/verifier) calls the same
			// function and returns the same JSON.
			res := attach.VerifyInput(v, raw, p)
			if jsonOutput(cmd) {
				if _, err := cmd.OutOrStdout().Write(res.JSON()); err != nil {
					return err
				}
			} else {
				printResult(cmd.OutOrStdout(), res)
			}
			return verdictErr(res.Verdict, res.Reason)
		},
	}
	f := cmd.Flags()
	f.StringVar(&file, "file", "", "the original file, hashed with SM3 and compared with the recorded fingerprint")
	f.StringVar(&fingerprint, "fingerprint", "", "the file's SM3 fingerprint (64 hex digits) instead of --file")
	f.IntVar(&minWitnesses, "min-witnesses", 0, "how many trusted witness courts must have cosigned the head")
	return cmd
}

func certGetCmd(r *remote) *cobra.Command {
	var pdfOut, jsonOut, possess string
	cmd := &cobra.Command{
		Use:   "get EVIDENCE_ID",
		Short: "Download the certificate of an evidence ID, from any court, to --out-json and/or --out-pdf (checked with --trust if given)",
		Long: `get downloads the certificate (存证证明) of an evidence ID from the court asked,
the recording court or any court that mirrors it, checks it against --trust
if given, and writes its JSON to --out-json and its PDF rendering to
--out-pdf. Without either it prints what the certificate says; with --json,
the certificate's JSON itself.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 2 && jsonOutput(cmd) {
				return fmt.Errorf("%w: --json prints the certificate; to write it to %s, use --out-json %s", errUsage, args[1], args[1])
			}
			return exactArgs(1)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := withTimeout(r)
			defer cancel()
			var fp string
			if possess != "" {
				sum, err := fingerprintOfFile(possess)
				if err != nil {
					return err
				}
				fp = hex.EncodeToString(sum[:])
			}
			resp, err := getCertificate(ctx, r, args[0], pdfOut != "", fp)
			if err != nil {
				return err
			}
			certJSON := certificateJSON(resp.Certificate)
			var res certificate.Result
			if r.trust != "" {
				v, err := loadTrust(r.trust)
				if err != nil {
					return err
				}
				if res = v.Verify(certJSON, certificate.Policy{}); res.Verdict != certificate.Valid {
					printResult(cmd.ErrOrStderr(), res)
					return verdictErr(res.Verdict, "the court sent a certificate that does not verify: "+res.Reason)
				}
			}
			if jsonOutput(cmd) {
				if _, err := cmd.OutOrStdout().Write(certJSON); err != nil {
					return err
				}
			} else if jsonOut == "" && pdfOut == "" {
				if r.trust == "" {
					fmt.Fprintln(cmd.OutOrStdout(), "certificate downloaded, NOT checked (give --trust); save it with --out-json FILE or --out-pdf FILE")
				} else {
					printResult(cmd.OutOrStdout(), res)
					fmt.Fprintln(cmd.OutOrStdout(), "save it with --out-json FILE or --out-pdf FILE")
				}
			}
			for _, out := range []struct {
				name string
				data []byte
			}{{jsonOut, certJSON}, {pdfOut, resp.Pdf}} {
				if out.name == "" {
					continue
				}
				if err := os.WriteFile(out.name, out.data, 0o644); err != nil {
					return err
				}
				if !jsonOutput(cmd) {
					fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (%d bytes)\n", out.name, len(out.data))
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&pdfOut, "out-pdf", "", "write the PDF rendering here")
	cmd.Flags().StringVar(&pdfOut, "pdf", "", "same as --out-pdf")
	cmd.Flags().MarkHidden("pdf")
	cmd.Flags().StringVar(&possess, "file", "", "the evidence file, hashed here and its fingerprint sent as proof of possession (required of lawyers)")
	cmd.Flags().StringVar(&jsonOut, "out-json", "", "write the certificate's JSON here")
	return cmd
}

// certificateJSON is the certificate's own JSON (package certificate)
// rebuilt from the API message; falling back to protojson keeps a
// certificate the package cannot decode available for inspection.
func certificateJSON(c *pb.Certificate) []byte {
	raw, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(c)
	if err != nil {
		return nil
	}
	if dec, err := certificate.Unmarshal(raw); err == nil {
		return dec.Marshal()
	}
	return append(bytes.Clone(raw), '\n')
}

// certificates connects to the certificate service of --server's nodes,
// each call to a ready one, as every command does.
func certificates(r *remote) (pb.CertificateServiceClient, func(), error) {
	eps, err := r.endpoints()
	if err != nil {
		return nil, nil, err
	}
	dial, err := r.creds.dialOptions() // TLS, certificate or token, as every call
	if err != nil {
		return nil, nil, err
	}
	c, err := client.New(client.Config{Endpoints: eps, AttemptTimeout: r.attempt,
		DialOptions: append(dial, grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20)))})
	if err != nil {
		return nil, nil, err
	}
	return pb.NewCertificateServiceClient(c.Conn()), func() { c.Close() }, nil
}

func getCertificate(ctx context.Context, r *remote, id string, pdf bool, fingerprint string) (*pb.GetCertificateResponse, error) {
	c, done, err := certificates(r)
	if err != nil {
		return nil, err
	}
	defer done()
	resp, err := c.GetCertificate(ctx, &pb.GetCertificateRequest{EvidenceId: id, IncludePdf: pdf, Fingerprint: fingerprint})
	if err != nil {
		return nil, describe(err)
	}
	return resp, nil
}

// fingerprintOfFile is the SM3 of a file, streamed.
func fingerprintOfFile(path string) (sm3.Digest, error) {
	f, err := os.Open(path)
	if err != nil {
		return sm3.Digest{}, err
	}
	defer f.Close()
	d, _, err := sm3.SumReader(f, 0, nil)
	return d, err
}
