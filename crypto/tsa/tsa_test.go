package tsa_test

import (
	"bytes"
	"context"
	"crypto"
	"encoding/asn1"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/digitorus/timestamp"

	"github.com/courtledger/courtledger/court/devtsa"
	"github.com/courtledger/courtledger/crypto/tsa"
)

// head stands for a signed tree head's note text, what a court stamps.
var head = []byte("hangzhou.court.example/evidence\n42\nq1aJ8C1b6cZl0O1bdQ0aJwWb2W3b5p1k3YB+N6r5gmY=\ntime-ms 1764763200000\n")

// fixture is a development TSA behind an HTTP server, a client of it and
// the anchors that trust it.
type fixture struct {
	tsa     *devtsa.TSA
	srv     *httptest.Server
	client  *tsa.Client
	anchors *tsa.Anchors
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	d, err := devtsa.New("test TSA")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(d.Handler())
	t.Cleanup(srv.Close)
	c, err := tsa.NewClient(tsa.ClientConfig{URL: srv.URL, HTTP: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	a, err := tsa.ParseAnchors(d.RootPEM())
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{tsa: d, srv: srv, client: c, anchors: a}
}

func (f *fixture) faults(t testing.TB, fl devtsa.Faults) {
	t.Helper()
	if err := f.tsa.SetFaults(fl); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) stamp(t testing.TB, data []byte) []byte {
	t.Helper()
	tok, err := f.client.Stamp(context.Background(), data)
	if err != nil {
		t.Fatalf("Stamp: %v", err)
	}
	return tok
}

func (f *fixture) opts() tsa.VerifyOptions {
	return tsa.VerifyOptions{Anchors: f.anchors, Policy: devtsa.Policy, Expected: time.Now(), Tolerance: time.Minute}
}

func TestStampVerifyRoundTrip(t *testing.T) {
	f := newFixture(t)
	for _, h := range []crypto.Hash{0, crypto.SHA256, crypto.SHA384, crypto.SHA512} {
		want := h
		if h == 0 {
			want = crypto.SHA256 // the default
		}
		t.Run(want.String(), func(t *testing.T) {
			c, err := tsa.NewClient(tsa.ClientConfig{URL: f.srv.URL, Hash: h, Policy: devtsa.Policy})
			if err != nil {
				t.Fatal(err)
			}
			if c.Name() != f.srv.URL {
				t.Errorf("Name() = %q, want the URL %q", c.Name(), f.srv.URL)
			}
			before := time.Now().Truncate(time.Second)
			tok, err := c.Stamp(context.Background(), head)
			if err != nil {
				t.Fatal(err)
			}
			after := time.Now()
			info, err := tsa.Verify(tok, head, f.opts())
			if err != nil {
				t.Fatal(err)
			}
			if info.Time.Before(before) || info.Time.After(after) || info.Time.Location() != time.UTC {
				t.Errorf("Time %v, want UTC between %v and %v", info.Time, before, after)
			}
			if info.TSA != "test TSA" || info.Hash != want.String() || info.Policy != devtsa.Policy.String() ||
				info.Accuracy != devtsa.Accuracy || !strings.HasPrefix(info.Serial, "0x") || len(info.Serial) < 10 {
				t.Errorf("Info %+v", info)
			}
			// The bare TimeStampToken inside verifies the same.
			var resp struct {
				Status asn1.RawValue
				Token  asn1.RawValue
			}
			if _, err := asn1.Unmarshal(tok, &resp); err != nil {
				t.Fatal(err)
			}
			if info2, err := tsa.Verify(resp.Token.FullBytes, head, f.opts()); err != nil || info2 != info {
				t.Errorf("bare token: %+v, %v; want %+v", info2, err, info)
			}
		})
	}
}

// TestStampTokensDiffer: each Stamp is a new token (serial, nonce), even
// for the same data.
func TestStampTokensDiffer(t *testing.T) {
	f := newFixture(t)
	a, b := f.stamp(t, head), f.stamp(t, head)
	ia, _ := tsa.Verify(a, head, f.opts())
	ib, _ := tsa.Verify(b, head, f.opts())
	if bytes.Equal(a, b) || ia.Serial == ib.Serial {
		t.Fatalf("two stamps gave the same token or serial %s", ia.Serial)
	}
}

func TestVerifyRefuses(t *testing.T) {
	f := newFixture(t)
	good := f.stamp(t, head)
	other, err := devtsa.New("another TSA")
	if err != nil {
		t.Fatal(err)
	}
	otherAnchors, err := tsa.ParseAnchors(other.RootPEM())
	if err != nil {
		t.Fatal(err)
	}
	// Straight from the TSA: Stamp refuses some of these already.
	faulty := func(fl devtsa.Faults) []byte {
		f.faults(t, fl)
		defer f.faults(t, devtsa.Faults{})
		return f.tsa.Respond(query(t, head, true))
	}
	noCert := f.tsa.Respond(query(t, head, false))
	rejection := f.tsa.Respond([]byte("not a TimeStampReq"))

	for _, tc := range []struct {
		name   string
		tsr    []byte
		data   []byte
		opts   func(*tsa.VerifyOptions)
		want   error
		inText []string // the message must name these
	}{
		{name: "other data", tsr: good, data: []byte("another head\n"), want: tsa.ErrImprint},
		{name: "TSA clock an hour ahead", tsr: faulty(devtsa.Faults{ClockOffset: time.Hour}), want: tsa.ErrTolerance,
			opts: func(o *tsa.VerifyOptions) { o.Tolerance = 5 * time.Minute }, inText: []string{"TSA time", "expected", "apart", "tolerance 5m0s"}},
		{name: "TSA clock an hour behind", tsr: faulty(devtsa.Faults{ClockOffset: -time.Hour}), want: tsa.ErrTolerance,
			opts: func(o *tsa.VerifyOptions) { o.Tolerance = 5 * time.Minute }, inText: []string{"-1h0m"}},
		{name: "zero tolerance, head a minute old", tsr: good, want: tsa.ErrTolerance,
			opts: func(o *tsa.VerifyOptions) { o.Expected, o.Tolerance = time.Now().Add(-time.Minute), 0 }},
		{name: "expired TSA certificate", tsr: faulty(devtsa.Faults{ExpiredCert: true}), want: tsa.ErrCertificate,
			inText: []string{"not at the token's"}},
		{name: "TSA certificate without EKU", tsr: faulty(devtsa.Faults{NoEKU: true}), want: tsa.ErrCertificate,
			inText: []string{"no extended key usage"}},
		{name: "TSA certificate with non-critical EKU", tsr: faulty(devtsa.Faults{NonCriticalEKU: true}), want: tsa.ErrCertificate,
			inText: []string{"non-critical"}},
		{name: "untrusted root", tsr: good, opts: func(o *tsa.VerifyOptions) { o.Anchors = otherAnchors }, want: tsa.ErrUntrustedChain},
		{name: "no anchors", tsr: good, opts: func(o *tsa.VerifyOptions) { o.Anchors = nil }, want: tsa.ErrUntrustedChain},
		{name: "other policy required", tsr: good, opts: func(o *tsa.VerifyOptions) { o.Policy = asn1.ObjectIdentifier{1, 2, 156, 1} },
			want: tsa.ErrPolicy, inText: []string{"1.2.156.1", devtsa.Policy.String()}},
		{name: "garbage", tsr: []byte("this is not DER at all"), want: tsa.ErrMalformed},
		{name: "empty", tsr: nil, want: tsa.ErrMalformed},
		{name: "truncated by one byte", tsr: good[:len(good)-1], want: tsa.ErrMalformed},
		{name: "truncated to half", tsr: good[:len(good)/2], want: tsa.ErrMalformed},
		{name: "trailing byte", tsr: append(append([]byte(nil), good...), 0), want: tsa.ErrMalformed},
		{name: "rejection", tsr: rejection, want: tsa.ErrRejected, inText: []string{"rejected", "wrong format"}},
		{name: "token without certificate", tsr: noCert, want: tsa.ErrMalformed, inText: []string{"certReq"}},
		{name: "signature byte flipped", tsr: flipLast(good), want: tsa.ErrSignature},
		{name: "TSA time altered", tsr: alterTime(t, good), want: tsa.ErrSignature},
		{name: "another certificate for the TSA's key", tsr: swapCert(t, f, good), want: tsa.ErrSignature,
			inText: []string{"is its signer's"}},
		{name: "over 64 KiB", tsr: make([]byte, tsa.MaxToken+1), want: tsa.ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := f.opts()
			if tc.opts != nil {
				tc.opts(&o)
			}
			data := head
			if tc.data != nil {
				data = tc.data
			}
			info, err := tsa.Verify(tc.tsr, data, o)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify = %+v, %v; want %v", info, err, tc.want)
			}
			for _, s := range tc.inText {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
		})
	}
	if _, err := tsa.Verify(good, head, f.opts()); err != nil {
		t.Fatalf("the good token after all that: %v", err)
	}
}

// query is a DER TimeStampReq for data, as openssl ts -query makes it.
func query(t testing.TB, data []byte, certReq bool) []byte {
	t.Helper()
	q, err := timestamp.CreateRequest(bytes.NewReader(data), &timestamp.RequestOptions{Certificates: certReq, Nonce: big.NewInt(7)})
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// swapCert puts in tok, in place of the TSA certificate, another one for
// the same key from the same root (expired: the only other kind devtsa
// issues), of the same length so that the DER stays whole. The CMS
// signature is still good, but the certificate is not the signer's.
func swapCert(t testing.TB, f *fixture, tok []byte) []byte {
	t.Helper()
	a := f.tsa.Certificate()
	defer f.faults(t, devtsa.Faults{})
	for range 100 {
		f.faults(t, devtsa.Faults{ExpiredCert: true})
		if b := f.tsa.Certificate(); len(b.Raw) == len(a.Raw) {
			if !bytes.Contains(tok, a.Raw) {
				t.Fatal("the token does not carry the TSA certificate")
			}
			return bytes.Replace(tok, a.Raw, b.Raw, 1)
		}
	}
	t.Fatal("no certificate of the same length in 100 tries")
	return nil
}

// flipLast flips the token's last byte: the last byte of the ECDSA
// signature, the structure intact.
func flipLast(tok []byte) []byte {
	out := append([]byte(nil), tok...)
	out[len(out)-1] ^= 0x01
	return out
}

// alterTime changes the seconds of the TSTInfo's GeneralizedTime, leaving
// the structure intact: the message digest no longer matches.
func alterTime(t *testing.T, tok []byte) []byte {
	t.Helper()
	out := append([]byte(nil), tok...)
	// GeneralizedTime, 15 bytes: YYYYMMDDhhmmssZ.
	i := bytes.Index(out, []byte{0x18, 0x0f})
	if i < 0 || out[i+16] != 'Z' {
		t.Fatal("no GeneralizedTime in the token")
	}
	if out[i+15] == '0' {
		out[i+15] = '1'
	} else {
		out[i+15] = '0'
	}
	return out
}

func TestStampRefuses(t *testing.T) {
	f := newFixture(t)
	other := asn1.ObjectIdentifier{1, 2, 156, 1}
	for _, tc := range []struct {
		name   string
		faults devtsa.Faults
		cfg    func(*tsa.ClientConfig)
		srv    http.HandlerFunc // instead of the dev TSA's handler
		want   error
		inText string
	}{
		{name: "TSA down (503)", faults: devtsa.Faults{Down: true}, want: tsa.ErrUnavailable, inText: "503"},
		{name: "token for another imprint", faults: devtsa.Faults{OtherImprint: true}, want: tsa.ErrImprint},
		{name: "expired TSA certificate", faults: devtsa.Faults{ExpiredCert: true}, want: tsa.ErrCertificate},
		{name: "policy the TSA does not serve", cfg: func(c *tsa.ClientConfig) { c.Policy = other }, want: tsa.ErrRejected, inText: "policy"},
		{name: "token under another policy", faults: devtsa.Faults{Policy: other},
			cfg: func(c *tsa.ClientConfig) { c.Policy = devtsa.Policy }, want: tsa.ErrPolicy},
		{name: "response over the bound", cfg: func(c *tsa.ClientConfig) { c.MaxResponse = 100 }, want: tsa.ErrTooLarge},
		{name: "oversized response", want: tsa.ErrTooLarge, srv: func(w http.ResponseWriter, r *http.Request) {
			w.Write(make([]byte, tsa.MaxToken+10))
		}},
		{name: "wrong nonce", want: tsa.ErrNonce, srv: func(w http.ResponseWriter, r *http.Request) {
			var body bytes.Buffer
			body.ReadFrom(r.Body)
			req, err := timestamp.ParseRequest(body.Bytes())
			if err != nil {
				t.Error(err)
				return
			}
			req.Nonce.Add(req.Nonce, big.NewInt(1))
			req.ExtraExtensions = nil
			q, _ := req.Marshal()
			w.Write(f.tsa.Respond(q))
		}},
		{name: "bare token instead of a response", want: tsa.ErrMalformed, srv: func(w http.ResponseWriter, r *http.Request) {
			var body bytes.Buffer
			body.ReadFrom(r.Body)
			var resp struct {
				Status asn1.RawValue
				Token  asn1.RawValue
			}
			asn1.Unmarshal(f.tsa.Respond(body.Bytes()), &resp)
			w.Write(resp.Token.FullBytes)
		}},
		{name: "HTML error page", want: tsa.ErrMalformed, srv: func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("<html>maintenance</html>"))
		}},
		{name: "not found", want: tsa.ErrUnavailable, inText: "404", srv: http.NotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.faults(t, tc.faults)
			defer f.faults(t, devtsa.Faults{})
			cfg := tsa.ClientConfig{URL: f.srv.URL}
			if tc.srv != nil {
				s := httptest.NewServer(tc.srv)
				defer s.Close()
				cfg.URL = s.URL
			}
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			c, err := tsa.NewClient(cfg)
			if err != nil {
				t.Fatal(err)
			}
			tok, err := c.Stamp(context.Background(), head)
			if !errors.Is(err, tc.want) || tok != nil {
				t.Fatalf("Stamp = %d bytes, %v; want %v", len(tok), err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.inText) {
				t.Errorf("error %q does not say %q", err, tc.inText)
			}
		})
	}
}

// TestStampTSAGoneAndBack: a TSA that cannot be reached is unavailable,
// and the client works again once it answers (the court back-fills then).
func TestStampTSAGoneAndBack(t *testing.T) {
	f := newFixture(t)
	f.srv.Close()
	c, err := tsa.NewClient(tsa.ClientConfig{URL: f.srv.URL, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Stamp(context.Background(), head); !errors.Is(err, tsa.ErrUnavailable) {
		t.Fatalf("closed server: %v, want ErrUnavailable", err)
	}
	f.faults(t, devtsa.Faults{Down: true})
	s := httptest.NewServer(f.tsa.Handler())
	defer s.Close()
	c, _ = tsa.NewClient(tsa.ClientConfig{URL: s.URL})
	if _, err := c.Stamp(context.Background(), head); !errors.Is(err, tsa.ErrUnavailable) {
		t.Fatalf("down: %v, want ErrUnavailable", err)
	}
	f.faults(t, devtsa.Faults{})
	tok, err := c.Stamp(context.Background(), head)
	if err != nil {
		t.Fatalf("back up: %v", err)
	}
	if _, err := tsa.Verify(tok, head, f.opts()); err != nil {
		t.Fatal(err)
	}
}

func TestStampHonoursContext(t *testing.T) {
	hang := make(chan struct{})
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-hang }))
	defer s.Close()
	defer close(hang)
	c, _ := tsa.NewClient(tsa.ClientConfig{URL: s.URL, Timeout: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.Stamp(ctx, head); !errors.Is(err, tsa.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stamp with an expiring context: %v", err)
	}
	c, _ = tsa.NewClient(tsa.ClientConfig{URL: s.URL, Timeout: 50 * time.Millisecond})
	if _, err := c.Stamp(context.Background(), head); !errors.Is(err, tsa.ErrUnavailable) {
		t.Fatalf("Stamp past its Timeout: %v", err)
	}
}

func TestNewClientRefuses(t *testing.T) {
	for _, tc := range []struct {
		cfg    tsa.ClientConfig
		inText string
	}{
		{tsa.ClientConfig{}, "want http://"},
		{tsa.ClientConfig{URL: "tsa.example:318"}, "want http://"},
		{tsa.ClientConfig{URL: "ftp://tsa.example/"}, "want http://"},
		{tsa.ClientConfig{URL: "http://"}, "want http://"},
		{tsa.ClientConfig{URL: "http://tsa.example/", Hash: crypto.SHA1}, "use SHA-256"},
		{tsa.ClientConfig{URL: "http://tsa.example/", Hash: crypto.MD5}, "use SHA-256"},
		{tsa.ClientConfig{URL: "http://tsa.example/", Timeout: -1}, "negative"},
	} {
		if c, err := tsa.NewClient(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.inText) {
			t.Errorf("NewClient(%+v) = %v, %v; want an error saying %q", tc.cfg, c, err, tc.inText)
		}
	}
}

func TestParseAnchors(t *testing.T) {
	d, err := devtsa.New("x")
	if err != nil {
		t.Fatal(err)
	}
	two := append(d.RootPEM(), d.RootPEM()...)
	if a, err := tsa.ParseAnchors(two); err != nil || len(a.Certificates()) != 2 {
		t.Fatalf("two roots: %v", err)
	}
	for _, tc := range []struct {
		name, pem, inText string
	}{
		{"empty", "", "no PEM CERTIFICATE"},
		{"DER, not PEM", string(d.Root().Raw), "no PEM CERTIFICATE"},
		{"a key", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", `block 1 is "PRIVATE KEY"`},
		{"broken certificate", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "certificate 1"},
		{"second broken", string(d.RootPEM()) + "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "certificate 2"},
	} {
		if _, err := tsa.ParseAnchors([]byte(tc.pem)); err == nil || !strings.Contains(err.Error(), tc.inText) {
			t.Errorf("%s: %v, want an error saying %q", tc.name, err, tc.inText)
		}
	}
}

// FuzzVerify: no input panics Verify, and whatever it accepts is a token
// over the data from the trusted TSA.
func FuzzVerify(f *testing.F) {
	fx := newFixture(f)
	good := fx.stamp(f, head)
	f.Add(good)
	for _, n := range []int{0, 1, 2, 10, 100, len(good) / 2, len(good) - 1} {
		f.Add(good[:n])
	}
	f.Add(flipLast(good))
	f.Add(fx.tsa.Respond([]byte("x")))
	f.Add(fx.tsa.Respond(query(f, head, false)))
	opts := fx.opts()
	opts.Expected = time.Time{}
	f.Fuzz(func(t *testing.T, tsr []byte) {
		info, err := tsa.Verify(tsr, head, opts)
		if err == nil && info.TSA != "test TSA" {
			t.Fatalf("accepted a token from %q", info.TSA)
		}
	})
}
