package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/courtledger/courtledger/api/client"
	pb "github.com/courtledger/courtledger/api/gen/courtledger/v1"
	"github.com/courtledger/courtledger/court"
	"github.com/courtledger/courtledger/court/access"
	"github.com/courtledger/courtledger/crypto/checkpoint"
	"github.com/courtledger/courtledger/crypto/sm2"
	"github.com/courtledger/courtledger/crypto/sm3"
	"github.com/courtledger/courtledger/evidence"
	"github.com/courtledger/courtledger/evidence/certificate"
	"github.com/courtledger/courtledger/evidence/certpdf/attach"
)

const certTestCourt = "hangzhou.court.example/evidence"

// loopback is a free loopback address for a node to listen on later. It
// is picked below the ephemeral range (32768 and up on Linux): a port the
// kernel hands out for ":0" can be handed out again, before the node
// listens, as the local port of another test's outgoing connection (seen
// in CI: "bind: address already in use"). Ports given out before are not
// given again in this process.
func loopback(t testing.TB) string {
	t.Helper()
	loopbackMu.Lock()
	defer loopbackMu.Unlock()
	for range 1000 {
		port := 20000 + rand.IntN(12000)
		if loopbackUsed[port] {
			continue
		}
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		ln.Close()
		loopbackUsed[port] = true
		return ln.Addr().String()
	}
	t.Fatal("no free loopback port from 20000 to 31999")
	return ""
}

var (
	loopbackMu   sync.Mutex
	loopbackUsed = map[int]bool{}
)

// oneNodeCourt starts a court of one node with a registered platform,
// files file with it and returns the node's gRPC address, a trust file of
// the court's key and the evidence ID.
func oneNodeCourt(t *testing.T, file []byte) (addr, trustFile, evidenceID string) {
	t.Helper()
	c := startOneNodeCourt(t, file)
	return c.addr, c.trust, c.evidenceID
}

// oneCourt is a court of one node, as oneNodeCourt starts it, with its
// platform's key in a file.
type oneCourt struct {
	addr, http, trust, evidenceID, keyFile string
}

func startOneNodeCourt(t *testing.T, file []byte) oneCourt {
	t.Helper()
	key, _ := sm2.GenerateKey()
	peer := court.Peer{NodeID: "hz-0", RaftAddr: loopback(t), GRPCAddr: loopback(t)}
	n, err := court.Start(court.Config{Court: certTestCourt, NodeID: peer.NodeID, DataDir: t.TempDir(),
		RaftAddr: peer.RaftAddr, GRPCAddr: peer.GRPCAddr, HTTPAddr: "127.0.0.1:0", CourtKey: key,
		Peers: []court.Peer{peer}, Bootstrap: true, Fast: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		// Plain text with tokens: TLS is tested in cmd/courtd's e2e test.
		Security: court.Security{Insecure: true, Tokens: []access.TokenRule{
			{Hash: access.TokenHash("tok-judge"), Identity: access.Identity{Role: access.RoleJudge, ID: "judge-wang"}},
			{Hash: access.TokenHash("tok-admin"), Identity: access.Identity{Role: access.RoleAdmin, ID: "admin"}},
			{Hash: access.TokenHash("tok-platform"), Identity: access.Identity{Role: access.RolePlatform, ID: "esign.example"}},
		}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		n.Shutdown(ctx)
	})
	v, _ := checkpoint.NewVerifier(certTestCourt, key.Public())
	trustFile := filepath.Join(t.TempDir(), "trust.txt")
	if err := os.WriteFile(trustFile, []byte("# the courts\n"+v.String()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	platform, _ := sm2.GenerateKey()
	t.Setenv("EVIDENCECTL_INSECURE", "1")
	t.Setenv("EVIDENCECTL_TOKEN", "tok-judge")
	as := func(token string) *client.Client {
		c, err := client.New(client.Config{Endpoints: []string{n.GRPCAddr()}, Platform: "esign.example", Key: platform, Court: v, Attempts: 100,
			DialOptions: []grpc.DialOption{grpc.WithPerRPCCredentials(client.Token(token, true))}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	admin, c := as("tok-admin"), as("tok-platform")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		_, err := admin.Admin().RegisterPlatform(ctx, &pb.RegisterPlatformRequest{PlatformId: "esign.example", PublicKeyPem: string(platform.Public().MarshalPEM())})
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("register platform: %v", err)
		}
		time.Sleep(20 * time.Millisecond) // no leader yet
	}
	s, err := c.Sign(evidence.Submission{RequestID: "cli-1", Fingerprint: sm3.Sum(file), Category: evidence.CategoryChat, Title: "微信聊天记录"})
	if err != nil {
		t.Fatal(err)
	}
	r, _, err := c.Submit(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	pemBytes, _ := platform.MarshalPEM()
	keyFile := filepath.Join(t.TempDir(), "platform.key.pem")
	if err := os.WriteFile(keyFile, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	return oneCourt{n.GRPCAddr(), n.HTTPAddr(), trustFile, r.Entry.EvidenceID, keyFile}
}

func wantVerdict(t *testing.T, err error, want certificate.Verdict, exit int) {
	t.Helper()
	var ve *verdictError
	switch {
	case want == certificate.Valid && err != nil:
		t.Fatalf("want VALID, got %v", err)
	case want == certificate.Valid:
	case !errors.As(err, &ve) || ve.verdict != want || ve.exitCode() != exit:
		t.Fatalf("want %s (exit %d), got %v", want, exit, err)
	}
}

func TestCertCommands(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "chat.txt")
	content := []byte("2026-11-25 张三：合同今天签。李四：好的。")
	if err := os.WriteFile(file, content, 0o644); err != nil {
		t.Fatal(err)
	}
	addr, trust, id := oneNodeCourt(t, content)
	certJSON, certPDF := filepath.Join(dir, "c.json"), filepath.Join(dir, "c.pdf")
	if out, err := run(t, "cert", "get", id, "--server", addr, "--trust", trust, "--out-json", certJSON, "--out-pdf", certPDF); err != nil {
		t.Fatalf("cert get: %v\n%s", err, out)
	}
	if b, _ := os.ReadFile(certPDF); !strings.HasPrefix(string(b), "%PDF-") {
		t.Fatal("cert get wrote no PDF")
	}

	out, err := run(t, "cert", "verify", certJSON, "--file", file, "--trust", trust)
	wantVerdict(t, err, certificate.Valid, 0)
	if !strings.HasPrefix(out, "VALID (有效): the file is the one recorded") || !strings.Contains(out, id) {
		t.Fatalf("cert verify output:\n%s", out)
	}

	changed := filepath.Join(dir, "changed.txt")
	os.WriteFile(changed, append([]byte("X"), content[1:]...), 0o644)
	_, err = run(t, "cert", "verify", certJSON, "--file", changed, "--trust", trust)
	wantVerdict(t, err, certificate.Tampered, 4)

	other := filepath.Join(dir, "other-trust.txt")
	k, _ := sm2.GenerateKey()
	s, _ := checkpoint.NewSigner(certTestCourt, k)
	os.WriteFile(other, []byte(s.Verifier().String()+"\n"), 0o644)
	_, err = run(t, "cert", "verify", certJSON, "--trust", other)
	wantVerdict(t, err, certificate.Untrusted, 5)

	raw, _ := os.ReadFile(certJSON)
	// --json prints what attach.VerifyInput gives, for the JSON and the
	// PDF alike: the web page's verifier returns those same bytes.
	v, err := loadTrust(trust)
	if err != nil {
		t.Fatal(err)
	}
	sum := sm3.Sum(content)
	want := attach.VerifyInput(v, raw, certificate.Policy{Fingerprint: &sum}).JSON()
	for _, c := range []string{certJSON, certPDF} {
		out, err := run(t, "cert", "verify", c, "--file", file, "--trust", trust, "--json")
		if err != nil || out != string(want) {
			t.Fatalf("cert verify %s --json: %v\n%s\nwant\n%s", filepath.Base(c), err, out, want)
		}
	}

	truncated := filepath.Join(dir, "truncated.json")
	os.WriteFile(truncated, raw[:len(raw)/2], 0o644)
	_, err = run(t, "cert", "verify", truncated, "--trust", trust)
	wantVerdict(t, err, certificate.Malformed, 7)

	// At trial, against the court.
	out, err = run(t, "verify", file, "--server", addr, "--trust", trust)
	wantVerdict(t, err, certificate.Valid, 0)
	if !strings.Contains(out, "recording 1 of 1") || !strings.Contains(out, "platform esign.example") {
		t.Fatalf("verify output:\n%s", out)
	}
	_, err = run(t, "verify", changed, "--server", addr, "--trust", trust, "--evidence-id", id)
	wantVerdict(t, err, certificate.Tampered, 4)
	_, err = run(t, "verify", changed, "--server", addr, "--trust", trust)
	wantVerdict(t, err, certificate.NotRecorded, 3)
	if _, err := run(t, "cert", "verify", certJSON); !errors.Is(err, errUsage) {
		t.Fatalf("cert verify without --trust: %v, want a usage error", err)
	}
}

// TestCertVerifyNotACertificate: a PDF without a certificate attached and
// a file that is neither JSON nor PDF are MALFORMED (exit 7) with the
// reason, and --json prints attach.VerifyInput's result, as the web page's
// verifier returns it.
func TestCertVerifyNotACertificate(t *testing.T) {
	dir := t.TempDir()
	k, _ := sm2.GenerateKey()
	s, _ := checkpoint.NewSigner(certTestCourt, k)
	trust := filepath.Join(dir, "trust.txt")
	os.WriteFile(trust, []byte(s.Verifier().String()+"\n"), 0o644)
	v, err := loadTrust(trust)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, content, reason string }{
		{"letter.pdf", "%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\n%%EOF\n", "not a certificate PDF: the PDF has no attached file"},
		{"photo.png", "\x89PNG\r\n\x1a\n", "not a valid certificate"},
	} {
		path := filepath.Join(dir, tc.name)
		os.WriteFile(path, []byte(tc.content), 0o644)
		out, err := run(t, "cert", "verify", path, "--trust", trust)
		wantVerdict(t, err, certificate.Malformed, 7)
		if !strings.HasPrefix(out, "MALFORMED (格式错误): "+tc.reason) {
			t.Fatalf("%s: %s", tc.name, out)
		}
		out, err = run(t, "cert", "verify", path, "--trust", trust, "--json")
		wantVerdict(t, err, certificate.Malformed, 7)
		if want := attach.VerifyInput(v, []byte(tc.content), certificate.Policy{}).JSON(); out != string(want) {
			t.Fatalf("%s --json:\n%s\nwant\n%s", tc.name, out, want)
		}
	}
}
