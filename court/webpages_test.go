package court

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/courtledger/courtledger/api/gen/courtledger/v1"
	"github.com/courtledger/courtledger/court/access"
	"github.com/courtledger/courtledger/crypto/checkpoint"
	"github.com/courtledger/courtledger/crypto/sm3"
)

// Without credentials (the browser page), a caller who holds the file
// gets the verdict and the recordings of its fingerprint, and nothing of a
// claimed evidence ID that records another file: not the recording, not
// the recorded fingerprint in the reason. A judge still sees both.
func TestAnonymousVerdictsShowOnlyTheFingerprintHeld(t *testing.T) {
	c := startCourt(t, 1)
	ctx := context.Background()
	ev, admin := c.dial(t, c.leader().GRPCAddr())
	if _, err := admin.RegisterPlatform(ctx, &pb.RegisterPlatformRequest{PlatformId: "esign.example", PublicKeyPem: string(c.platform.Public().MarshalPEM())}); err != nil {
		t.Fatal(err)
	}
	file := []byte("a lease, signed")
	resp, err := ev.Submit(ctx, &pb.SubmitRequest{Submission: c.signed(t, "anon-1", file)})
	if err != nil {
		t.Fatal(err)
	}
	id := resp.Receipt.Entry.EvidenceId
	fp := sm3.Sum(file)
	good := hex.EncodeToString(fp[:])
	other := sm3.Sum([]byte("another file"))
	bad := hex.EncodeToString(other[:])

	addr := c.leader().GRPCAddr()
	anon := pb.NewCertificateServiceClient(dialToken(t, c.ca, addr, ""))
	judge := pb.NewCertificateServiceClient(dialToken(t, c.ca, addr, tokenFor(access.RoleJudge)))

	v, err := anon.VerifyEvidence(ctx, &pb.VerifyEvidenceRequest{Fingerprint: good})
	if err != nil || v.Verdict != pb.Verdict_VERDICT_VALID || len(v.Recordings) != 1 || v.Recordings[0].EvidenceId != id || v.Recordings[0].Certificate == nil {
		t.Fatalf("anonymous, the file held: %v %v", v, err)
	}
	v, err = anon.VerifyEvidence(ctx, &pb.VerifyEvidenceRequest{Fingerprint: bad, EvidenceId: id})
	if err != nil || v.Verdict != pb.Verdict_VERDICT_TAMPERED || len(v.Recordings) != 0 || strings.Contains(v.Reason, good) {
		t.Fatalf("anonymous, another file claimed under %s: %v %v; want TAMPERED showing nothing recorded", id, v, err)
	}
	v, err = judge.VerifyEvidence(ctx, &pb.VerifyEvidenceRequest{Fingerprint: bad, EvidenceId: id})
	if err != nil || v.Verdict != pb.Verdict_VERDICT_TAMPERED || len(v.Recordings) != 1 || !strings.Contains(v.Reason, good) {
		t.Fatalf("a judge, another file claimed under %s: %v %v; want the recording and its fingerprint", id, v, err)
	}
	v, err = anon.VerifyEvidence(ctx, &pb.VerifyEvidenceRequest{Fingerprint: bad})
	if err != nil || v.Verdict != pb.Verdict_VERDICT_NOT_RECORDED || len(v.Recordings) != 0 {
		t.Fatalf("anonymous, an unknown file: %v %v", v, err)
	}
	// Other methods still need credentials.
	if _, err := pb.NewEvidenceServiceClient(dialToken(t, c.ca, addr, "")).GetEvidence(ctx, &pb.GetEvidenceRequest{EvidenceId: id}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("anonymous GetEvidence: %v, want Unauthenticated", err)
	}
}

// Calls without credentials are limited per address: the burst, then
// ResourceExhausted (HTTP 429 with Retry-After), while a caller with
// credentials keeps its own budget.
func TestAnonymousCallsAreRateLimitedPerAddress(t *testing.T) {
	c := startCourtWith(t, 1, func(cfg *Config) {
		cfg.Security.Rate = access.RateConfig{PerSecond: 0.5, Burst: 5}
	})
	ctx := context.Background()
	addr := c.leader().GRPCAddr()
	anon := pb.NewCertificateServiceClient(dialToken(t, c.ca, addr, ""))
	fp := strings.Repeat("ab", 32)
	var limited bool
	for i := 0; i < 20 && !limited; i++ {
		_, err := anon.VerifyEvidence(ctx, &pb.VerifyEvidenceRequest{Fingerprint: fp})
		switch status.Code(err) {
		case codes.OK:
		case codes.ResourceExhausted:
			limited = true
		default:
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if !limited {
		t.Fatal("20 anonymous calls with a burst of 5 were all answered")
	}
	hr, err := newREST(c.ca, "").Get("https://" + c.leader().HTTPAddr() + "/v1/verdicts/" + fp)
	if err != nil {
		t.Fatal(err)
	}
	hr.Body.Close()
	if hr.StatusCode != http.StatusTooManyRequests || hr.Header.Get("Retry-After") == "" {
		t.Fatalf("REST, over the limit: HTTP %d Retry-After %q, want 429 with Retry-After", hr.StatusCode, hr.Header.Get("Retry-After"))
	}
	judge := pb.NewCertificateServiceClient(dialToken(t, c.ca, addr, tokenFor(access.RoleJudge)))
	if _, err := judge.VerifyEvidence(ctx, &pb.VerifyEvidenceRequest{Fingerprint: fp}); err != nil {
		t.Fatalf("a judge from the same address: %v", err)
	}
}

// Every node serves the pages: the verification page, the status page
// with the court's head, and the trust file it publishes (this court's
// key and the other courts'), each with the strict security headers.
func TestNodeServesPages(t *testing.T) {
	c := startCourt(t, 1)
	base := "https://" + c.leader().HTTPAddr()
	rest := newREST(c.ca, "")
	get := func(path string) (*http.Response, string) {
		t.Helper()
		hr, err := rest.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer hr.Body.Close()
		b, _ := io.ReadAll(hr.Body)
		return hr, string(b)
	}
	for _, path := range []string{"/", "/certificate", "/signin", "/status", "/?lang=en"} {
		hr, body := get(path)
		if hr.StatusCode != http.StatusOK || !strings.Contains(body, "<!doctype html>") {
			t.Fatalf("%s: HTTP %d\n%s", path, hr.StatusCode, body)
		}
		csp := hr.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self' 'wasm-unsafe-eval';") || strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s: Content-Security-Policy %q", path, csp)
		}
		if strings.Contains(body, "<script>") || strings.Contains(body, " onclick=") || strings.Contains(body, "http://") {
			t.Errorf("%s has inline script or an http:// address", path)
		}
	}
	if _, body := get("/"); !strings.Contains(body, "核验文件") {
		t.Error("the verification page is not in Chinese by default")
	}
	if _, body := get("/?lang=en"); !strings.Contains(body, "Verify a file") {
		t.Error("?lang=en does not give English")
	}
	if hr, body := get("/status"); hr.StatusCode != http.StatusOK || !strings.Contains(body, `id="empty"`) {
		t.Errorf("the status page of a court with nothing filed: HTTP %d\n%s", hr.StatusCode, body)
	}
	ctx := context.Background()
	ev, admin := c.dial(t, c.leader().GRPCAddr())
	if _, err := admin.RegisterPlatform(ctx, &pb.RegisterPlatformRequest{PlatformId: "esign.example", PublicKeyPem: string(c.platform.Public().MarshalPEM())}); err != nil {
		t.Fatal(err)
	}
	if _, err := ev.Submit(ctx, &pb.SubmitRequest{Submission: c.signed(t, "page-1", []byte("x"))}); err != nil {
		t.Fatal(err)
	}
	_, body := get("/status")
	h, err := c.leader().ledger.LatestHead()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(body, hex.EncodeToString(h.Head.Root)) {
		t.Errorf("the status page lacks the court's head root %x", h.Head.Root)
	}
	hr, trust := get("/trust.txt")
	own, _ := checkpoint.NewVerifier(testCourt, c.key.Public())
	if !strings.Contains(trust, own.String()) || hr.Header.Get("X-Courtledger-Trust-SM3") == "" {
		t.Errorf("trust.txt lacks this court's key %s:\n%s", own, trust)
	}
	sum := sm3.Sum([]byte(trust))
	if got := hr.Header.Get("X-Courtledger-Trust-SM3"); got != hex.EncodeToString(sum[:]) {
		t.Errorf("trust.txt's SM3 header %s, the body's is %x", got, sum)
	}
	if hr, _ := get("/static/nothing.js"); hr.StatusCode != http.StatusNotFound {
		t.Errorf("an unknown asset: HTTP %d", hr.StatusCode)
	}
	// The gateway's JSON is unchanged under the pages.
	hr, body = get("/v1/verdicts/" + strings.Repeat("ab", 32))
	var v map[string]any
	if hr.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &v) != nil || v["verdict"] != "VERDICT_NOT_RECORDED" {
		t.Errorf("REST verdict without credentials: HTTP %d %s", hr.StatusCode, body)
	}
}
