package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/courtledger/courtledger/evidence/certificate"
)

// Issue 13, item 8: cert verify shows as a fact only what is signed. Before,
// it printed "issued by X at T" under VALID for any certificate, though
// neither was signed, and a witness line that carries no time printed as
// cosigned "at 0001-01-01T00:00:00Z".
func TestPrintResultShowsOnlyWhatIsProven(t *testing.T) {
	const byHand = "../../evidence/certificate/testdata/by_hand/"
	trust, err := loadTrust(byHand + "trust.txt")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		cert string
		want []string
	}{
		{"cert.json", []string{
			"issued by hangzhou.court.example/evidence at 2026-11-25T10:00:00.125Z (signed by the issuer)",
			"platform key registered at court hangzhou.court.example/evidence on 2026-11-01T09:30:00Z (stated by the issuer, whose signature verifies; the platform's signature verifies under it)",
		}},
		{"cert_v1.json", []string{
			"issued by beijing.court.example/evidence at 2026-11-25T10:00:00.125Z: unverified (a courtledger.certificate/v1 certificate is not signed by its issuer)",
		}},
	} {
		raw, err := os.ReadFile(byHand + tc.cert)
		if err != nil {
			t.Fatal(err)
		}
		r := trust.Verify(raw, certificate.Policy{})
		if r.Verdict != certificate.Valid {
			t.Fatalf("%s: %s: %s", tc.cert, r.Verdict, r.Reason)
		}
		var out bytes.Buffer
		printResult(&out, r)
		for _, want := range tc.want {
			if !strings.Contains(out.String(), want) {
				t.Errorf("%s: output lacks %q:\n%s", tc.cert, want, out.String())
			}
		}
	}

	// A witness line that is no cosignature has no time.
	r := certificate.Result{Verdict: certificate.Valid, Reason: "recorded", Details: certificate.Details{
		EvidenceID: "e8344de0a319235b6e42c48020cdf9e5", CertificateID: "638b562b3e575016ac7dddce4a7f5837",
		RecordedAt: time.Date(2026, 11, 25, 8, 0, 3, 0, time.UTC), Court: "hangzhou.court.example/evidence",
		IssuedBy: "beijing.court.example/evidence", IssuedAt: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC),
		IssuerNote: "court beijing.court.example/evidence, named as issuer, is not in the trust file",
		Witnesses:  []certificate.Witness{{Court: "shanghai.court.example/evidence", KeyID: "0badc0de"}},
	}}
	var out bytes.Buffer
	printResult(&out, r)
	for _, bad := range []string{"0001-01-01", "(signed by the issuer)"} {
		if strings.Contains(out.String(), bad) {
			t.Errorf("output says %q:\n%s", bad, out.String())
		}
	}
	for _, want := range []string{"shanghai.court.example/evidence, key 0badc0de (NOT in the trust file or not verified)", "2020-01-01T00:00:00Z: unverified (court beijing"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
