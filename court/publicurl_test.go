package court

import (
	"context"
	"strings"
	"testing"

	pb "github.com/courtledger/courtledger/api/gen/courtledger/v1"
)

// public_url is the court's verification address: a config with anything
// but an absolute https URL is refused, naming the key; a court with one
// prints it on its certificates (issue 13, item 14).
func TestPublicURL(t *testing.T) {
	load := func(value string) (Config, error) { return loadWith(t, "public_url: "+value) }
	const url = "https://evidence.hangzhou.court.example/verify"
	if cfg, err := load(url); err != nil || cfg.PublicURL != url {
		t.Fatalf("public_url %s: %q, %v", url, cfg.PublicURL, err)
	}
	for _, bad := range []string{"http://evidence.hangzhou.court.example", "evidence.hangzhou.court.example", "https://"} {
		if _, err := load(bad); err == nil || !strings.Contains(err.Error(), "public_url") {
			t.Errorf("public_url %q: %v, want it refused naming public_url", bad, err)
		}
	}

	c := startCourtWith(t, 1, func(cfg *Config) { cfg.PublicURL = url })
	ctx := context.Background()
	ev, admin := c.dial(t, c.nodes[0].GRPCAddr())
	if _, err := admin.RegisterPlatform(ctx, &pb.RegisterPlatformRequest{PlatformId: "esign.example", PublicKeyPem: string(c.platform.Public().MarshalPEM())}); err != nil {
		t.Fatal(err)
	}
	resp, err := ev.Submit(ctx, &pb.SubmitRequest{Submission: c.signed(t, "url-1", []byte("a file"))})
	if err != nil {
		t.Fatal(err)
	}
	certs := dialCertificates(t, c.ca, c.nodes[0].GRPCAddr())
	got := poll(t, "certificate", func() (*pb.GetCertificateResponse, error) {
		return certs.GetCertificate(ctx, &pb.GetCertificateRequest{EvidenceId: resp.Receipt.Entry.EvidenceId, IncludePdf: true})
	})
	checkPDFText(t, got.Pdf, url)
}
