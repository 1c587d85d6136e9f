package certificate

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/courtledger/courtledger/court/devtsa"
	"github.com/courtledger/courtledger/crypto/tsa"
)

// The worked example with a trusted timestamp (docs/verify-by-hand.md,
// "The timestamp"): cert_ts.json is cert.json with the token of the
// development TSA over its head, whose root is tsa-root.pem. The TSA's
// clock is set to two seconds after the example's head, so that the
// fixture keeps the example's dates. Remake both with
//
//	go test ./evidence/certificate -run TestVerifyByHandTimestamp -update
func TestVerifyByHandTimestamp(t *testing.T) {
	certPath, rootPath := filepath.Join(byHandDir, "cert_ts.json"), filepath.Join(byHandDir, "tsa-root.pem")
	base, err := os.ReadFile(filepath.Join(byHandDir, "cert.json"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := Unmarshal(base)
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		dev, err := devtsa.New("courtledger development TSA")
		if err != nil {
			t.Fatal(err)
		}
		if err := dev.SetFaults(devtsa.Faults{ClockOffset: time.Until(c.Head.Time.Add(2 * time.Second))}); err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(dev.Handler())
		defer srv.Close()
		cl, err := tsa.NewClient(tsa.ClientConfig{URL: srv.URL})
		if err != nil {
			t.Fatal(err)
		}
		text, err := StampedText(c.SignedHead)
		if err != nil {
			t.Fatal(err)
		}
		token, err := cl.Stamp(context.Background(), text)
		if err != nil {
			t.Fatal(err)
		}
		withTS, err := c.WithTimestamp("http://127.0.0.1:3161/", c.Proof, c.SignedHead, token)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(certPath, withTS.Marshal(), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(rootPath, dev.RootPEM(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(certPath)
	if err != nil {
		t.Fatalf("%v (make it with -update)", err)
	}
	root, err := os.ReadFile(rootPath)
	if err != nil {
		t.Fatal(err)
	}
	anchors, err := tsa.ParseAnchors(root)
	if err != nil {
		t.Fatal(err)
	}
	trust, err := ParseTrustFile([]byte(byHandTrust(t)))
	if err != nil {
		t.Fatal(err)
	}
	check := func(token, data []byte, headTime time.Time) (TimestampInfo, error) {
		info, err := tsa.Verify(token, data, tsa.VerifyOptions{Anchors: anchors, Expected: headTime, Tolerance: time.Minute})
		return TimestampInfo{TSA: info.TSA, Time: info.Time}, err
	}
	v, err := NewVerifier(VerifierConfig{Trust: trust, Timestamps: check})
	if err != nil {
		t.Fatal(err)
	}
	r := v.Verify(raw, Policy{})
	if ts := r.Details.Timestamp; r.Verdict != Valid || ts == nil || !ts.Verified || !ts.Time.Equal(c.Head.Time.Truncate(time.Second).Add(2*time.Second)) {
		t.Fatalf("the timestamped example: %v %q %+v", r.Verdict, r.Reason, r.Details.Timestamp)
	}
	// cert_ts.json is cert.json with the timestamp member: same ID.
	if got, _ := Unmarshal(raw); got == nil || got.ID != c.ID {
		t.Fatal("cert_ts.json is not cert.json with a timestamp")
	}
}
