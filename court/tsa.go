package court

import (
	"encoding/asn1"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/courtledger/courtledger/court/stamp"
	"github.com/courtledger/courtledger/crypto/tsa"
	"github.com/courtledger/courtledger/evidence/certificate"
)

// Trusted time (issue 16): the court's heads stamped by RFC 3161
// time-stamping authorities. The stamping loop is court/stamp; the
// protocol and the token checks are crypto/tsa; this file turns the
// configuration into both.

// FileTSA is one entry of tsa: a time-stamping authority the court asks
// to stamp its heads, tried in the order given.
//
//	tsa:
//	  - url: https://tsa.ntsc.example/tsa      # RFC 3161 over HTTP(S)
//	    roots_file: /etc/courtd/tsa-root.pem   # its root certificate(s), PEM
//	    policy: 1.2.3.4.1                      # optional: the policy OID its tokens must name
//	    tolerance: 1m                          # how far its time may be from the head's (default 1m)
type FileTSA struct {
	URL       string `koanf:"url"`
	RootsFile string `koanf:"roots_file"`
	Policy    string `koanf:"policy"`
	Tolerance string `koanf:"tolerance"`
}

// DefaultTSATolerance is how far a token's time may be from the time the
// stamped head states. A head is stamped within a second or so of being
// signed, unless the TSA was down: then the newest head is stamped when it
// returns, so the tolerance also bounds how old a head the court stamps.
const DefaultTSATolerance = time.Minute

// TSAConfig is one TSA as a node uses it.
type TSAConfig struct {
	URL       string
	Anchors   *tsa.Anchors
	AnchorPEM []byte // published in the court's trust file
	Policy    asn1.ObjectIdentifier
	Tolerance time.Duration
}

func (t FileTSA) validate(i int) []error {
	var errs []error
	if !strings.HasPrefix(t.URL, "http://") && !strings.HasPrefix(t.URL, "https://") {
		errs = append(errs, fmt.Errorf("tsa[%d].url %q must be an http:// or https:// URL of the TSA", i, t.URL))
	}
	if t.RootsFile == "" {
		errs = append(errs, fmt.Errorf("tsa[%d].roots_file is required: the TSA's root certificate(s) in PEM", i))
	}
	if t.Policy != "" {
		if _, err := parseOID(t.Policy); err != nil {
			errs = append(errs, fmt.Errorf("tsa[%d].policy %q: %w", i, t.Policy, err))
		}
	}
	if t.Tolerance != "" {
		if d, err := time.ParseDuration(t.Tolerance); err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("tsa[%d].tolerance %q is not a positive duration", i, t.Tolerance))
		}
	}
	return errs
}

// load reads the TSA's roots.
func (t FileTSA) load() (TSAConfig, error) {
	raw, err := os.ReadFile(t.RootsFile)
	if err != nil {
		return TSAConfig{}, fmt.Errorf("court: tsa %s: roots_file: %w", t.URL, err)
	}
	anchors, err := tsa.ParseAnchors(raw)
	if err != nil {
		return TSAConfig{}, fmt.Errorf("court: tsa %s: roots_file %s: %w", t.URL, t.RootsFile, err)
	}
	c := TSAConfig{URL: t.URL, Anchors: anchors, AnchorPEM: raw, Tolerance: DefaultTSATolerance}
	if t.Policy != "" {
		c.Policy, _ = parseOID(t.Policy) // validated
	}
	if t.Tolerance != "" {
		c.Tolerance, _ = time.ParseDuration(t.Tolerance) // validated
	}
	return c, nil
}

func parseOID(s string) (asn1.ObjectIdentifier, error) {
	parts := strings.Split(s, ".")
	if len(parts) < 2 {
		return nil, errors.New("not a dotted object identifier (like 1.2.3.4)")
	}
	oid := make(asn1.ObjectIdentifier, len(parts))
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return nil, errors.New("not a dotted object identifier (like 1.2.3.4)")
		}
		oid[i] = n
	}
	return oid, nil
}

// tsaClients builds the stamping loop's TSAs and the check of their
// tokens from cfg.TSA: a token must verify under the roots of the TSA
// that issued it, which the check finds by trying each TSA's in turn.
func tsaClients(cfgs []TSAConfig) ([]stamp.TSA, stamp.Verify, error) {
	var clients []stamp.TSA
	for _, c := range cfgs {
		cl, err := tsa.NewClient(tsa.ClientConfig{URL: c.URL, Policy: c.Policy})
		if err != nil {
			return nil, nil, fmt.Errorf("court: tsa %s: %w", c.URL, err)
		}
		clients = append(clients, cl)
	}
	check := tsaChecker(cfgs)
	verify := func(token, data []byte, headTime time.Time) (stamp.Info, error) {
		info, err := check(token, data, headTime)
		return stamp.Info{Time: info.Time, TSA: info.TSA}, err
	}
	return clients, verify, nil
}

// tsaChecker checks a token against the configured TSAs' roots, policies
// and tolerances, as certificates and the PDF need it.
func tsaChecker(cfgs []TSAConfig) certificate.TimestampChecker {
	if len(cfgs) == 0 {
		return nil
	}
	return func(token, data []byte, headTime time.Time) (certificate.TimestampInfo, error) {
		var errs []error
		for _, c := range cfgs {
			info, err := tsa.Verify(token, data, tsa.VerifyOptions{Anchors: c.Anchors, Policy: c.Policy, Expected: headTime, Tolerance: c.Tolerance})
			if err == nil {
				return certificate.TimestampInfo{TSA: info.TSA, Time: info.Time}, nil
			}
			// A chain error under one TSA's roots may be another's token;
			// any other failure is the token's own.
			if !errors.Is(err, tsa.ErrUntrustedChain) {
				return certificate.TimestampInfo{}, err
			}
			errs = append(errs, err)
		}
		return certificate.TimestampInfo{}, errors.Join(errs...)
	}
}

// tsaReason labels a refused token for courtledger_tsa_failures_total.
func tsaReason(err error) string {
	for _, r := range []struct {
		err  error
		name string
	}{
		{tsa.ErrUnavailable, "unavailable"}, {tsa.ErrTolerance, "tolerance"}, {tsa.ErrImprint, "imprint"},
		{tsa.ErrCertificate, "certificate"}, {tsa.ErrUntrustedChain, "certificate"}, {tsa.ErrSignature, "signature"},
		{tsa.ErrPolicy, "policy"}, {tsa.ErrRejected, "rejected"}, {tsa.ErrNonce, "nonce"},
		{tsa.ErrMalformed, "malformed"}, {tsa.ErrTooLarge, "malformed"},
	} {
		if errors.Is(err, r.err) {
			return r.name
		}
	}
	return "invalid"
}
