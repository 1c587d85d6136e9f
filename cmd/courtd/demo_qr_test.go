package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/courtledger/courtledger/consensus"
	"github.com/courtledger/courtledger/crypto/sm3"
	"github.com/courtledger/courtledger/evidence"
	"github.com/courtledger/courtledger/internal/pdfqr"
)

// The demo's certificate PDFs carry working links: the QR code of a
// certificate a court issues, at any of its nodes and for its own evidence
// or a mirrored court's, opens that court's first node's HTTPS listener,
// with the evidence ID and the fingerprint in the query.
func TestDemoCertificateQRLinksToItsCourt(t *testing.T) {
	if _, err := pdfqr.DecodeQR(nil); errors.Is(err, pdfqr.ErrNoPdftoppm) {
		t.Skip(err)
	}
	dir := t.TempDir()
	base := freeDemoBase(t)
	d, err := startDemo(dir, base, false, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer d.stop()

	// File one piece of evidence at Hangzhou.
	key, err := loadOrMakeKey(filepath.Join(dir, "keys", "platform.key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	hz := demoCourts[0].id
	s := evidence.Submission{Court: hz, Platform: demoPlatform, RequestID: "qr-link", Fingerprint: sm3.Sum([]byte("qr-link")),
		Category: evidence.CategoryContract, Title: "qr-link", SignedAt: time.Now()}
	sig, err := s.Sign(key)
	if err != nil {
		t.Fatal(err)
	}
	var res []consensus.Result
	waitFor(t, 30*time.Second, "Hangzhou's leader to record the evidence", func() bool {
		for _, n := range d.nodes {
			if l := n.node.Ledger(); n.court == hz && l.IsLeader() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				res, err = l.Submit(ctx, []consensus.SignedSubmission{{Submission: s, Signature: sig}})
				return err == nil && res[0].Err == nil
			}
		}
		return false
	})
	id := res[0].Receipt.Entry.EvidenceID

	// A judge's HTTPS client, as curl in the demo's steps.
	pki := filepath.Join(dir, "pki")
	ca, err := os.ReadFile(filepath.Join(pki, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca)
	judge, err := tls.LoadX509KeyPair(filepath.Join(pki, "judge.pem"), filepath.Join(pki, "judge.pem"))
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{judge}}}}

	// Hangzhou's evidence at Hangzhou's second node, and at Beijing's
	// second node from its mirror: each court links to its own page.
	for _, tc := range []struct {
		court, node int // index in demoCourts, node of that court
	}{{0, 1}, {1, 1}} {
		_, _, at := demoPorts(base, tc.court, tc.node)
		var pdf []byte
		waitFor(t, 30*time.Second, "a certificate PDF from "+at, func() bool {
			resp, err := client.Get("https://" + at + "/v1/evidence/" + id + "/certificate.pdf")
			if err != nil {
				return false
			}
			defer resp.Body.Close()
			pdf, err = io.ReadAll(resp.Body)
			return err == nil && resp.StatusCode == http.StatusOK
		})
		link, err := pdfqr.DecodeQR(pdf)
		if err != nil {
			t.Fatalf("the PDF from %s: %v", at, err)
		}
		t.Logf("QR code of the certificate from %s: %s", at, link)
		_, _, first := demoPorts(base, tc.court, 0)
		u, err := url.Parse(link)
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		if u.Scheme != "https" || u.Host != first || u.Path != "/" {
			t.Errorf("link %s from %s: want https://%s/", link, at, first)
		}
		if q.Get("evidence") != id || q.Get("sm3") != fmt.Sprintf("%x", s.Fingerprint[:]) || len(q.Get("cert")) != 32 {
			t.Errorf("link %s: want evidence=%s sm3=%x and a certificate ID", link, id, s.Fingerprint[:])
		}
	}
}
