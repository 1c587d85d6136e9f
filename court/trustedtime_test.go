package court

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	pb "github.com/courtledger/courtledger/api/gen/courtledger/v1"
	"github.com/courtledger/courtledger/court/access"
	"github.com/courtledger/courtledger/court/devtsa"
	"github.com/courtledger/courtledger/crypto/checkpoint"
	"github.com/courtledger/courtledger/crypto/tsa"
	"github.com/courtledger/courtledger/evidence/certificate"
	"github.com/courtledger/courtledger/evidence/certpdf/attach"
)

// TestTrustedTime runs a court against the development TSA over HTTP and
// walks the failure modes: certificates carry a token that the
// offline verifier and stock OpenSSL check; with the TSA down the court
// still files and issues receipts (timestamp pending) and catches up when
// it returns; a TSA whose clock is off, or whose tokens are for other
// data, or whose certificate has expired or lacks the critical
// timeStamping usage, has its tokens refused, counted by reason.
func TestTrustedTime(t *testing.T) {
	dev, err := devtsa.New("test TSA")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(dev.Handler())
	defer srv.Close()
	anchors, err := tsa.ParseAnchors(dev.RootPEM())
	if err != nil {
		t.Fatal(err)
	}
	tsaCfg := TSAConfig{URL: srv.URL + "/", Anchors: anchors, AnchorPEM: dev.RootPEM(), Tolerance: 30 * time.Second}
	c := startCourtWith(t, 1, func(cfg *Config) { cfg.TSA = []TSAConfig{tsaCfg} })
	n := c.leader()
	ctx := context.Background()
	ev, admin := c.dial(t, n.GRPCAddr())
	if _, err := admin.RegisterPlatform(ctx, &pb.RegisterPlatformRequest{PlatformId: "esign.example", PublicKeyPem: string(c.platform.Public().MarshalPEM())}); err != nil {
		t.Fatal(err)
	}
	certs := pb.NewCertificateServiceClient(dialToken(t, c.ca, n.GRPCAddr(), tokenFor(access.RoleJudge)))
	judge := pb.NewEvidenceServiceClient(dialToken(t, c.ca, n.GRPCAddr(), tokenFor(access.RoleJudge)))
	submit := func(id string) *pb.Receipt {
		t.Helper()
		resp, err := ev.Submit(ctx, &pb.SubmitRequest{Submission: c.signed(t, id, []byte("file "+id))})
		if err != nil {
			t.Fatalf("submit %s: %v", id, err)
		}
		if !resp.Receipt.TimestampPending || resp.Receipt.Timestamp != nil {
			t.Fatalf("a fresh receipt: pending %v, timestamp %v; want pending", resp.Receipt.TimestampPending, resp.Receipt.Timestamp)
		}
		return resp.Receipt
	}
	// certificate waits until the evidence's certificate carries a
	// timestamp, and returns it decoded.
	certificateOf := func(id string, want bool) *certificate.Certificate {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			resp, err := certs.GetCertificate(ctx, &pb.GetCertificateRequest{EvidenceId: id})
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := protojson.MarshalOptions{UseProtoNames: true}.Marshal(resp.Certificate)
			cert, err := certificate.Unmarshal(raw)
			if err != nil {
				t.Fatal(err)
			}
			if (cert.Timestamp != nil) == want || time.Now().After(deadline) {
				return cert
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	trustText := append([]byte(mustVerifier(t, c).String()+"\n"), dev.RootPEM()...)
	trust, err := certificate.ParseTrustFile(trustText)
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := attach.NewVerifier(trust)
	if err != nil {
		t.Fatal(err)
	}

	// Stamped: the certificate's token verifies offline and with OpenSSL.
	r1 := submit("tt-1")
	cert := certificateOf(r1.Entry.EvidenceId, true)
	if cert.Timestamp == nil {
		t.Fatal("no timestamp on the certificate within 30 s")
	}
	res := verifier.VerifyCertificate(cert, certificate.Policy{})
	if res.Verdict != certificate.Valid || res.Details.Timestamp == nil || !res.Details.Timestamp.Verified {
		t.Fatalf("verify: %v %q %+v", res.Verdict, res.Reason, res.Details.Timestamp)
	}
	if d := res.Details.Timestamp.Time.Sub(cert.Entry.AcceptedAt); d < -2*time.Second || d > 30*time.Second {
		t.Errorf("TSA time %v is %v from the entry's acceptance", res.Details.Timestamp.Time, d)
	}
	opensslVerify(t, cert, dev.RootPEM())
	got, err := judge.GetEvidence(ctx, &pb.GetEvidenceRequest{EvidenceId: r1.Entry.EvidenceId})
	if err != nil || got.Receipt.Timestamp == nil || got.Receipt.TimestampPending {
		t.Fatalf("GetEvidence after stamping: %v, timestamp %v pending %v", err, got.GetReceipt().GetTimestamp(), got.GetReceipt().GetTimestampPending())
	}
	// The PDF prints the TSA's time.
	pdfResp, err := certs.GetCertificate(ctx, &pb.GetCertificateRequest{EvidenceId: r1.Entry.EvidenceId, IncludePdf: true})
	if err != nil {
		t.Fatal(err)
	}
	checkPDFText(t, pdfResp.Pdf, "可信时间戳", "test TSA")

	// The status page says which TSA stamps and how far it has come.
	hr, err := newREST(c.ca, "").Get("https://" + n.HTTPAddr() + "/status")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(hr.Body)
	hr.Body.Close()
	if last, _ := n.ledger.LastStamped(); !bytes.Contains(page, []byte(tsaCfg.URL)) || !bytes.Contains(page, []byte(fmt.Sprintf(`id="stamped-size">%d<`, last))) {
		t.Errorf("the status page lacks the TSA or its stamped head:\n%s", page)
	}

	// The TSA down: filing goes on, receipts say pending, nothing stamped;
	// when it returns, one token covers what was filed meanwhile.
	dev.SetFaults(devtsa.Faults{Down: true})
	before, _ := n.ledger.LastStamped()
	r2 := submit("tt-2")
	r3 := submit("tt-3")
	time.Sleep(1500 * time.Millisecond)
	if after, _ := n.ledger.LastStamped(); after != before {
		t.Fatalf("stamped head %d while the TSA was down (was %d)", after, before)
	}
	if heads, _ := n.stamper.Behind(); heads == 0 {
		t.Error("the stamper does not report being behind while the TSA is down")
	}
	if c := certificateOf(r3.Entry.EvidenceId, false); c.Timestamp != nil {
		t.Fatal("a certificate has a timestamp from a TSA that is down")
	}
	dev.SetFaults(devtsa.Faults{})
	for _, r := range []*pb.Receipt{r2, r3} {
		cert := certificateOf(r.Entry.EvidenceId, true)
		if cert.Timestamp == nil {
			t.Fatalf("%s: no timestamp after the TSA came back", r.Entry.EvidenceId)
		}
		if res := verifier.VerifyCertificate(cert, certificate.Policy{}); res.Verdict != certificate.Valid || !res.Details.Timestamp.Verified {
			t.Fatalf("%s after the TSA came back: %v %q", r.Entry.EvidenceId, res.Verdict, res.Reason)
		}
	}

	// Tokens that must be refused: none is recorded, each is counted.
	for _, f := range []struct {
		name   string
		faults devtsa.Faults
		reason string
	}{
		{"clock off by 5 min", devtsa.Faults{ClockOffset: 5 * time.Minute}, "tolerance"},
		{"other imprint", devtsa.Faults{OtherImprint: true}, "imprint"},
		{"expired certificate", devtsa.Faults{ExpiredCert: true}, "certificate"},
		{"no timeStamping usage", devtsa.Faults{NoEKU: true}, "certificate"},
		{"non-critical timeStamping usage", devtsa.Faults{NonCriticalEKU: true}, "certificate"},
	} {
		t.Run(f.name, func(t *testing.T) {
			if err := dev.SetFaults(f.faults); err != nil {
				t.Fatal(err)
			}
			before, _ := n.ledger.LastStamped()
			metric := `courtledger_tsa_failures_total{court="` + testCourt + `",node="` + n.cfg.NodeID + `",reason="` + f.reason + `",tsa="` + tsaCfg.URL + `"}`
			was := metricValue(t, n, metric)
			r := submit("tt-" + strings.ReplaceAll(f.name, " ", "-"))
			deadline := time.Now().Add(20 * time.Second)
			for metricValue(t, n, metric) <= was {
				if time.Now().After(deadline) {
					t.Fatalf("no refusal counted as %s within 20 s", f.reason)
				}
				time.Sleep(50 * time.Millisecond)
			}
			if after, _ := n.ledger.LastStamped(); after != before {
				t.Fatalf("a token was recorded (head %d) from a TSA with %s", after, f.name)
			}
			if c := certificateOf(r.Entry.EvidenceId, false); c.Timestamp != nil {
				t.Fatal("the certificate carries a refused token")
			}
		})
	}
	dev.SetFaults(devtsa.Faults{})
}

func mustVerifier(t *testing.T, c *testCourtNodes) *checkpoint.Verifier {
	t.Helper()
	v, err := checkpoint.NewVerifier(testCourt, c.key.Public())
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// opensslVerify checks a certificate's token as a third party would: the
// stamped head's text as head.txt, the token as token.tsr, and
// `openssl ts -verify` against the TSA's root.
func opensslVerify(t *testing.T, cert *certificate.Certificate, root []byte) {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatal("openssl is not installed (.ci/run installs it): the token must verify with stock OpenSSL")
	}
	dir := t.TempDir()
	text, err := certificate.StampedText(cert.Timestamp.SignedHead)
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"head.txt": text, "token.tsr": cert.Timestamp.Token, "tsa-root.pem": root} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("openssl", "ts", "-verify", "-data", "head.txt", "-in", "token.tsr", "-CAfile", "tsa-root.pem")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("Verification: OK")) {
		t.Fatalf("openssl ts -verify: %v\n%s", err, out)
	}
	// And refuses another head's text.
	os.WriteFile(filepath.Join(dir, "head.txt"), append(bytes.Clone(text), 'x'), 0o644)
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Fatalf("openssl ts -verify took other data:\n%s", out)
	}
}

// metricValue is the value of one series (name{labels} as the text
// format writes it, labels sorted) of the node's metrics; 0 if absent.
func metricValue(t *testing.T, n *Node, series string) float64 {
	t.Helper()
	families, err := n.metrics.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+`="`+l.GetValue()+`"`)
			}
			if f.GetName()+"{"+strings.Join(labels, ",")+"}" == series {
				return m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	return 0
}
