package court

import (
	"context"
	"encoding/hex"
	"io"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/courtledger/courtledger/api/gen/courtledger/v1"
	"github.com/courtledger/courtledger/court/access"
	"github.com/courtledger/courtledger/court/apierr"
	"github.com/courtledger/courtledger/crypto/sm3"
)

// Issue 13, item 9: a lawyer cannot enumerate evidence IDs. Asking for the
// certificate of an unknown evidence ID, and of a recorded one with a wrong
// fingerprint, answers the same code, reason and message, over gRPC, the
// REST JSON route and the PDF route alike (their cost is compared by
// BenchmarkLawyerNotFound). Before,
// the messages differed ("evidence X at this court or its mirrors" against
// "no evidence X with that fingerprint"), and the PDF route gave the reason
// "NotFound" where the gateway gave "NOT_FOUND".
func TestLawyerCannotEnumerateEvidence(t *testing.T) {
	// Unlimited rate: the timing below takes many calls.
	c := registered(t, func(cfg *Config) { cfg.Security.Rate = access.RateConfig{PerSecond: 1e6, Burst: 1e6} })
	ctx := context.Background()
	ev, _ := c.dial(t, c.nodes[0].GRPCAddr())
	file := []byte("loan agreement")
	resp, err := ev.Submit(ctx, &pb.SubmitRequest{Submission: c.signed(t, "enum-1", file)})
	if err != nil {
		t.Fatal(err)
	}
	known := resp.Receipt.Entry.EvidenceId
	fp := sm3.Sum(file)
	good, wrong := hex.EncodeToString(fp[:]), strings.Repeat("ab", 32)
	unknown := strings.Repeat("0", 32)
	if known == unknown {
		t.Fatal("the unknown ID is known")
	}
	probes := []struct{ name, id, fp string }{
		{"known ID, wrong fingerprint", known, wrong},
		{"unknown ID, the file's fingerprint", unknown, good},
		{"unknown ID, wrong fingerprint", unknown, wrong},
	}
	lawyer := pb.NewCertificateServiceClient(dialToken(t, c.ca, c.nodes[0].GRPCAddr(), tokenFor(access.RoleLawyer)))
	rest := newREST(c.ca, tokenFor(access.RoleLawyer))
	base := "https://" + c.nodes[0].HTTPAddr() + "/v1/evidence/"

	type answer struct{ grpc, json, pdf string }
	ask := func(id, fp string) answer {
		var a answer
		_, err := lawyer.GetCertificate(ctx, &pb.GetCertificateRequest{EvidenceId: id, Fingerprint: fp})
		st := status.Convert(err)
		a.grpc = st.Code().String() + " " + reasonOf(err) + " " + st.Message()
		get := func(url string) string {
			hr, err := rest.Get(url)
			if err != nil {
				t.Fatal(err)
			}
			defer hr.Body.Close()
			b, _ := io.ReadAll(hr.Body)
			return hr.Status + " " + hr.Header.Get("Content-Type") + " " + string(b)
		}
		a.json = get(base + id + "/certificate?fingerprint=" + fp)
		a.pdf = get(base + id + "/certificate.pdf?fingerprint=" + fp)
		return a
	}

	first := ask(probes[0].id, probes[0].fp)
	if !strings.HasPrefix(first.grpc, "NotFound NOT_FOUND ") {
		t.Errorf("gRPC answer %q, want NotFound with reason NOT_FOUND", first.grpc)
	}
	for _, route := range []string{first.json, first.pdf} {
		if !strings.HasPrefix(route, "404 ") || !strings.Contains(route, `"reason":"NOT_FOUND"`) {
			t.Errorf("REST answer %q, want 404 with reason NOT_FOUND", route)
		}
		if strings.Contains(route, known) {
			t.Errorf("REST answer %q echoes the evidence ID", route)
		}
	}
	for _, p := range probes[1:] {
		got := ask(p.id, p.fp)
		// The ID asked for is the only thing that may differ, and no
		// answer names it.
		if got != first {
			t.Errorf("%s answers\n  %+v\n%s answers\n  %+v", p.name, got, probes[0].name, first)
		}
	}
	// The file's own fingerprint still gets the certificate.
	if _, err := lawyer.GetCertificate(ctx, &pb.GetCertificateRequest{EvidenceId: known, Fingerprint: good}); err != nil {
		t.Fatalf("with the file's fingerprint: %v", err)
	}
}

// BenchmarkLawyerNotFound times the two answers a lawyer must not tell
// apart (issue 13, item 9): a known evidence ID asked with a wrong
// fingerprint, and an unknown ID. They should cost the same: the
// fingerprint is compared before any proof is built. Run:
//
//	go test -run '^$' -bench LawyerNotFound -benchtime 2000x ./court/
//
// Timing is measured here, not asserted in a test: on a loaded machine
// any threshold is either too loose to catch anything or flaky.
func BenchmarkLawyerNotFound(b *testing.B) {
	c := registerPlatform(b, startCourtWith(b, 1, func(cfg *Config) {
		cfg.Security.Rate = access.RateConfig{PerSecond: 1e6, Burst: 1e6}
	}))
	ctx := context.Background()
	ev, _ := c.dial(b, c.nodes[0].GRPCAddr())
	resp, err := ev.Submit(ctx, &pb.SubmitRequest{Submission: c.signed(b, "enum-bench", []byte("loan agreement"))})
	if err != nil {
		b.Fatal(err)
	}
	lawyer := pb.NewCertificateServiceClient(dialToken(b, c.ca, c.nodes[0].GRPCAddr(), tokenFor(access.RoleLawyer)))
	wrong := strings.Repeat("ab", 32)
	for _, bc := range []struct{ name, id string }{
		{"known-id-wrong-fingerprint", resp.Receipt.Entry.EvidenceId},
		{"unknown-id", strings.Repeat("0", 32)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				_, err := lawyer.GetCertificate(ctx, &pb.GetCertificateRequest{EvidenceId: bc.id, Fingerprint: wrong})
				if status.Code(err) != codes.NotFound {
					b.Fatal(err)
				}
			}
		})
	}
}

// A gRPC status without a reason of ours gets its code's name spelled as
// every reason is: NOT_FOUND, never NotFound.
func TestCodeReason(t *testing.T) {
	for c, want := range map[codes.Code]string{
		codes.OK: "OK", codes.NotFound: "NOT_FOUND", codes.InvalidArgument: "INVALID_ARGUMENT",
		codes.DeadlineExceeded: "DEADLINE_EXCEEDED", codes.Unauthenticated: "UNAUTHENTICATED",
	} {
		if got := apierr.CodeReason(c); got != want {
			t.Errorf("codeReason(%v) = %q, want %q", c, got, want)
		}
		if got := problemOf(status.Error(c, "x")).Reason; c != codes.OK && got != want {
			t.Errorf("problemOf(status %v).Reason = %q, want %q", c, got, want)
		}
	}
}

// A platform asking for another platform's evidence gets exactly the
// answer of an unknown evidence ID, on GetEvidence and GetCertificate, so
// platforms cannot probe which IDs exist (issue 13, item 9).
func TestPlatformCannotProbeOthersEvidence(t *testing.T) {
	c := registered(t, nil)
	addr := c.nodes[0].GRPCAddr()
	ev, _ := c.dial(t, addr)
	ctx := context.Background()
	resp, err := ev.Submit(ctx, &pb.SubmitRequest{Submission: c.signed(t, "probe-1", []byte("someone's file"))})
	if err != nil {
		t.Fatal(err)
	}
	known, unknown := resp.Receipt.Entry.EvidenceId, strings.Repeat("0", len(resp.Receipt.Entry.EvidenceId))
	conn := dialToken(t, c.ca, addr, "tok-other-platform")
	other, certs := pb.NewEvidenceServiceClient(conn), pb.NewCertificateServiceClient(conn)
	for name, call := range map[string]func(id string) error{
		"GetEvidence": func(id string) error {
			_, err := other.GetEvidence(ctx, &pb.GetEvidenceRequest{EvidenceId: id})
			return err
		},
		"GetCertificate": func(id string) error {
			_, err := certs.GetCertificate(ctx, &pb.GetCertificateRequest{EvidenceId: id})
			return err
		},
	} {
		a, b := status.Convert(call(known)), status.Convert(call(unknown))
		if a.Code() != codes.NotFound || a.Code() != b.Code() || a.Message() != b.Message() || reasonOf(a.Err()) != reasonOf(b.Err()) {
			t.Errorf("%s: another platform's evidence answers %v %q (%s), an unknown ID %v %q (%s)", name,
				a.Code(), a.Message(), reasonOf(a.Err()), b.Code(), b.Message(), reasonOf(b.Err()))
		}
	}
}
