package court

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	pb "github.com/courtledger/courtledger/api/gen/courtledger/v1"
	"github.com/courtledger/courtledger/court/access"
	"github.com/courtledger/courtledger/court/devca"
	"github.com/courtledger/courtledger/crypto/checkpoint"
	"github.com/courtledger/courtledger/crypto/sm3"
	"github.com/courtledger/courtledger/evidence/certificate"
)

// dialCertificates connects as a judge, who may have any certificate.
func dialCertificates(t *testing.T, ca *devca.CA, addr string) pb.CertificateServiceClient {
	t.Helper()
	return pb.NewCertificateServiceClient(dialToken(t, ca, addr, tokenFor(access.RoleJudge)))
}

// poll retries fn until it succeeds: a follower serves what it has
// applied, which trails the leader's acknowledgement a little.
func poll[T any](t *testing.T, what string, fn func() (T, error)) T {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		v, err := fn()
		if err == nil {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (c *testCourtNodes) trustVerifier(t *testing.T) *certificate.Verifier {
	t.Helper()
	court, _ := checkpoint.NewVerifier(testCourt, c.key.Public())
	trust, err := certificate.NewTrust(court)
	if err != nil {
		t.Fatal(err)
	}
	v, err := certificate.NewVerifier(certificate.VerifierConfig{Trust: trust})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestCertificateRoundTrip: a file is submitted; a follower issues its
// certificate as JSON (gRPC and REST) and PDF; the certificate verifies
// offline against the court's key and the file, also after every node of
// the court is down; judges' verdicts come back for the file, a changed
// file and an unknown one.
func TestCertificateRoundTrip(t *testing.T) {
	c := startCourt(t, 3)
	ctx := context.Background()
	ev, admin := c.dial(t, c.leader().GRPCAddr())
	if _, err := admin.RegisterPlatform(ctx, &pb.RegisterPlatformRequest{PlatformId: "esign.example", PublicKeyPem: string(c.platform.Public().MarshalPEM())}); err != nil {
		t.Fatal(err)
	}
	file := []byte("租赁合同 lease contract, signed 2026-11-25")
	var id string
	for i := 0; i < 3; i++ { // a few entries, so the proof has hashes
		resp, err := ev.Submit(ctx, &pb.SubmitRequest{Submission: c.signed(t, fmt.Sprintf("cert-%d", i), append(bytes.Clone(file), byte(i)))})
		if err != nil {
			t.Fatal(err)
		}
		id = resp.Receipt.Entry.EvidenceId
	}
	file = append(file, 2)
	fp := sm3.Sum(file)

	follower := c.follower()
	certs := dialCertificates(t, c.ca, follower.GRPCAddr())
	got := poll(t, "certificate from a follower", func() (*pb.GetCertificateResponse, error) {
		return certs.GetCertificate(ctx, &pb.GetCertificateRequest{EvidenceId: id, IncludePdf: true})
	})
	certJSON, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(got.Certificate)
	if err != nil {
		t.Fatal(err)
	}
	v := c.trustVerifier(t)
	if r := v.Verify(certJSON, certificate.Policy{Fingerprint: &fp}); r.Verdict != certificate.Valid {
		t.Fatalf("certificate over gRPC: %s: %s", r.Verdict, r.Reason)
	}
	if !bytes.HasPrefix(got.Pdf, []byte("%PDF-")) {
		t.Fatalf("no PDF: %q", got.Pdf[:min(len(got.Pdf), 16)])
	}

	// REST: the JSON download is the certificate's own JSON schema.
	base := "https://" + follower.HTTPAddr()
	judge := newREST(c.ca, tokenFor(access.RoleJudge))
	restJSON := httpGet(t, judge, base+"/v1/evidence/"+id+"/certificate", "application/json")
	decoded, err := certificate.Unmarshal(restJSON)
	if err != nil {
		t.Fatalf("REST certificate does not decode: %v\n%s", err, restJSON)
	}
	if r := v.VerifyCertificate(decoded, certificate.Policy{Fingerprint: &fp}); r.Verdict != certificate.Valid {
		t.Fatalf("certificate over REST: %s: %s", r.Verdict, r.Reason)
	}
	// ...and protojson reads what this package writes.
	var asPB pb.Certificate
	if err := protojson.Unmarshal(decoded.Marshal(), &asPB); err != nil || asPB.CertificateId != decoded.ID {
		t.Fatalf("protojson cannot read the certificate JSON: %v", err)
	}
	pdf := httpGet(t, judge, base+"/v1/evidence/"+id+"/certificate.pdf", "application/pdf")
	checkPDFText(t, pdf, id, fmt.Sprintf("%x", fp[:]), "杭州互联网法院")

	// Verdicts at trial, over gRPC and by streaming the file over REST.
	for _, tc := range []struct {
		name string
		req  *pb.VerifyEvidenceRequest
		want pb.Verdict
	}{
		{"the file", &pb.VerifyEvidenceRequest{Fingerprint: fmt.Sprintf("%x", fp[:])}, pb.Verdict_VERDICT_VALID},
		{"the file and its evidence ID", &pb.VerifyEvidenceRequest{Fingerprint: fmt.Sprintf("%x", fp[:]), EvidenceId: id}, pb.Verdict_VERDICT_VALID},
		{"a changed file under the evidence ID", &pb.VerifyEvidenceRequest{Fingerprint: fmt.Sprintf("%x", sm3.Sum([]byte("forged"))), EvidenceId: id}, pb.Verdict_VERDICT_TAMPERED},
		{"an unknown file", &pb.VerifyEvidenceRequest{Fingerprint: fmt.Sprintf("%x", sm3.Sum([]byte("never filed")))}, pb.Verdict_VERDICT_NOT_RECORDED},
		{"an unknown evidence ID", &pb.VerifyEvidenceRequest{Fingerprint: fmt.Sprintf("%x", fp[:]), EvidenceId: strings.Repeat("0", 32)}, pb.Verdict_VERDICT_NOT_RECORDED},
	} {
		resp, err := certs.VerifyEvidence(ctx, tc.req)
		if err != nil || resp.Verdict != tc.want || resp.Reason == "" {
			t.Fatalf("%s: %v %v", tc.name, resp, err)
		}
		if tc.want != pb.Verdict_VERDICT_NOT_RECORDED && (len(resp.Recordings) != 1 || resp.Recordings[0].EvidenceId != id || resp.LatestHead == nil) {
			t.Fatalf("%s: recordings %v", tc.name, resp.Recordings)
		}
	}
	var streamed pb.VerifyEvidenceResponse
	hr, err := judge.Post(base+"/v1/verdicts:file?evidence_id="+id, "application/octet-stream", bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(hr.Body)
	hr.Body.Close()
	if err := protojson.Unmarshal(body, &streamed); err != nil || streamed.Verdict != pb.Verdict_VERDICT_VALID {
		t.Fatalf("streamed file verdict: %v %s", err, body)
	}
	if _, err := certs.GetCertificate(ctx, &pb.GetCertificateRequest{EvidenceId: strings.Repeat("0", 32)}); status.Code(err) != codes.NotFound {
		t.Fatalf("certificate of unknown evidence: %v, want NotFound", err)
	}
	if _, err := certs.GetCertificate(ctx, &pb.GetCertificateRequest{EvidenceId: "short"}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("certificate of a malformed ID: %v, want InvalidArgument", err)
	}
	hr, err = judge.Get(base + "/v1/evidence/" + strings.Repeat("0", 32) + "/certificate.pdf")
	if err != nil || hr.StatusCode != http.StatusNotFound {
		t.Fatalf("PDF of unknown evidence: %v %v, want 404", err, hr.Status)
	}
	hr.Body.Close()

	// The court goes down; the certificate still verifies, with no network.
	for _, n := range c.nodes {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		n.Shutdown(sctx)
		cancel()
	}
	if r := v.Verify(restJSON, certificate.Policy{Fingerprint: &fp}); r.Verdict != certificate.Valid {
		t.Fatalf("after the court is down: %s: %s", r.Verdict, r.Reason)
	}
}

func httpGet(t *testing.T, rc *restClient, url, contentType string) []byte {
	t.Helper()
	hr, err := rc.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer hr.Body.Close()
	b, _ := io.ReadAll(hr.Body)
	if hr.StatusCode != 200 || !strings.HasPrefix(hr.Header.Get("Content-Type"), contentType) {
		t.Fatalf("GET %s: %s %s: %s", url, hr.Status, hr.Header.Get("Content-Type"), b[:min(len(b), 200)])
	}
	return b
}

// checkPDFText runs pdftotext when poppler is installed (CI installs it;
// evidence/certpdf tests the PDF in depth).
func checkPDFText(t *testing.T, pdf []byte, want ...string) {
	t.Helper()
	if _, err := exec.LookPath("pdftotext"); err != nil {
		t.Log("pdftotext not installed: PDF text not checked here")
		return
	}
	f := filepath.Join(t.TempDir(), "c.pdf")
	if err := os.WriteFile(f, pdf, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("pdftotext", "-enc", "UTF-8", f, "-").CombinedOutput()
	if err != nil {
		t.Fatalf("pdftotext: %v\n%s", err, out)
	}
	for _, w := range want {
		if !strings.Contains(string(out), w) {
			t.Errorf("PDF text lacks %q", w)
		}
	}
}

// TestCertificateAccessByRole: a platform gets certificates of its own
// evidence only, a lawyer or a caller without credentials only with the
// file's fingerprint (proof of possession), a judge any; the plain PDF and
// JSON routes apply the same rules.
func TestCertificateAccessByRole(t *testing.T) {
	c := startCourt(t, 1)
	ctx := context.Background()
	ev, admin := c.dial(t, c.leader().GRPCAddr())
	if _, err := admin.RegisterPlatform(ctx, &pb.RegisterPlatformRequest{PlatformId: "esign.example", PublicKeyPem: string(c.platform.Public().MarshalPEM())}); err != nil {
		t.Fatal(err)
	}
	file := []byte("lease")
	resp, err := ev.Submit(ctx, &pb.SubmitRequest{Submission: c.signed(t, "acc-1", file)})
	if err != nil {
		t.Fatal(err)
	}
	id := resp.Receipt.Entry.EvidenceId
	fp := sm3.Sum(file)
	good, wrong := hex.EncodeToString(fp[:]), strings.Repeat("ab", 32)
	addr := c.leader().GRPCAddr()
	for _, tc := range []struct {
		token, fingerprint string
		code               codes.Code
	}{
		{tokenFor(access.RolePlatform), "", codes.OK},
		{"tok-other-platform", "", codes.NotFound},
		{tokenFor(access.RoleJudge), "", codes.OK},
		{tokenFor(access.RoleJudge), wrong, codes.NotFound},
		{tokenFor(access.RoleLawyer), "", codes.InvalidArgument},
		{tokenFor(access.RoleLawyer), wrong, codes.NotFound},
		{tokenFor(access.RoleLawyer), good, codes.OK},
		// Holding the file is the proof of possession, with credentials
		// or without (issue 15: the browser page).
		{tokenFor(access.RoleAdmin), good, codes.OK},
		{tokenFor(access.RolePeer), good, codes.OK},
		{"", good, codes.OK},
		{"", "", codes.InvalidArgument},
		{"", wrong, codes.NotFound},
	} {
		certs := pb.NewCertificateServiceClient(dialToken(t, c.ca, addr, tc.token))
		_, err := certs.GetCertificate(ctx, &pb.GetCertificateRequest{EvidenceId: id, Fingerprint: tc.fingerprint})
		if got := status.Code(err); got != tc.code {
			t.Errorf("%s with fingerprint %q: %v, want %v", tc.token, tc.fingerprint, err, tc.code)
		}
		// The PDF and JSON routes, outside the gateway, answer the same.
		for _, kind := range []string{"pdf", "json"} {
			url := "https://" + c.leader().HTTPAddr() + "/v1/evidence/" + id + "/certificate." + kind
			if tc.fingerprint != "" {
				url += "?fingerprint=" + tc.fingerprint
			}
			hr, err := newREST(c.ca, tc.token).Get(url)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(hr.Body)
			hr.Body.Close()
			if want := runtime.HTTPStatusFromCode(tc.code); hr.StatusCode != want {
				t.Errorf("%s as %s with fingerprint %q: HTTP %d, want %d", kind, tc.token, tc.fingerprint, hr.StatusCode, want)
			}
			if kind == "json" && hr.StatusCode == http.StatusOK {
				if cert, err := certificate.Unmarshal(body); err != nil || cert.Entry.EvidenceID != id {
					t.Errorf("certificate.json as %s: %v\n%s", tc.token, err, body)
				}
			}
		}
	}
}
