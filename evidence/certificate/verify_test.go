package certificate

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/courtledger/courtledger/crypto/checkpoint"
	"github.com/courtledger/courtledger/crypto/merkle"
	"github.com/courtledger/courtledger/crypto/sm2"
	"github.com/courtledger/courtledger/crypto/sm3"
	"github.com/courtledger/courtledger/evidence"
)

// editJSON changes one member of a certificate's JSON, as someone holding
// the file could.
func editJSON(t *testing.T, b []byte, edit func(j *jsonCertificate)) []byte {
	t.Helper()
	var j jsonCertificate
	if err := json.Unmarshal(b, &j); err != nil {
		t.Fatal(err)
	}
	edit(&j)
	out, err := json.Marshal(j)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func fp(b []byte) *evidence.Fingerprint { d := sm3.Sum(b); return &d }

func TestVerdicts(t *testing.T) {
	l := newTestLog(t, 7, beijing, guangzhou)
	const at = 5
	good := l.cert(t, at, true).Marshal()
	file := l.files[at]
	changedFile := bytes.Clone(file)
	changedFile[3] ^= 0x01

	otherKey, _ := sm2.GenerateKey()
	impostor, _ := checkpoint.NewSigner(hangzhou, otherKey)
	impostorTrust, _ := NewTrust(impostor.Verifier())
	strangerTrust, _ := NewTrust(mustVerifier(t, beijing))

	// A head of 3 entries, validly signed, that cannot hold entry 5.
	short := l.cert(t, at, false)
	short.SignedHead = l.head(t, 3, false)
	short.Head, _ = checkpoint.ParseUnverified(short.SignedHead)

	flipProof := l.cert(t, at, true)
	flipProof.Proof[1][7] ^= 0x20

	// The court's signature line, one bit flipped in its last base64 digit
	// but one, keeping the key ID.
	badCourtSig := l.cert(t, at, false)
	badCourtSig.SignedHead = flipSigByte(t, badCourtSig.SignedHead, hangzhou)

	badWitness := l.cert(t, at, true)
	badWitness.SignedHead = flipSigByte(t, badWitness.SignedHead, beijing)
	// As if the issuer had attached the bad line itself: the ID fits.
	badWitnessIssued := *badWitness
	badWitnessIssued.ID = badWitnessIssued.computeID()

	swapped := l.cert(t, at, true)
	swapped.Entry, swapped.EntryBytes = mustEntry(t, l.entries[at-1]), l.entries[at-1]
	// swapped keeps the proof of entry 5 for entry 4.

	tests := []struct {
		name   string
		cert   []byte
		trust  *Trust
		policy Policy
		want   Verdict
		reason string // part of the one-line reason
	}{
		{"valid, no file", good, l.trust(t, 0, 1), Policy{}, Valid, "recorded by court " + hangzhou},
		{"valid with the file", good, l.trust(t, 0, 1), Policy{Fingerprint: fp(file)}, Valid, "the file is the one"},
		{"valid, witnesses not trusted", good, l.trust(t), Policy{}, Valid, "position 5"},
		{"a byte of the file changed", good, l.trust(t, 0, 1), Policy{Fingerprint: fp(changedFile)}, Tampered, "differs from the recorded"},
		{"a byte of the proof changed", flipProof.Marshal(), l.trust(t, 0, 1), Policy{}, InvalidProof, "inclusion proof"},
		{"court signature corrupted", badCourtSig.Marshal(), l.trust(t), Policy{}, InvalidProof, "signature of court"},
		{"trusted witness cosignature corrupted", badWitnessIssued.Marshal(), l.trust(t, 0), Policy{}, InvalidProof, "cosignature of witness " + beijing},
		{"untrusted witness cosignature corrupted", badWitnessIssued.Marshal(), l.trust(t, 1), Policy{}, Valid, "recorded"},
		{"entry and proof of another index", swapped.Marshal(), l.trust(t), Policy{}, InvalidProof, "inclusion proof"},
		{"signed by an impostor key", good, impostorTrust, Policy{}, Untrusted, "not signed with court"},
		{"court not in trust file", good, strangerTrust, Policy{}, Untrusted, "not in the trust file"},
		{"too few trusted witnesses", good, l.trust(t, 0), Policy{MinWitnesses: 2}, Untrusted, "1 trusted witness"},
		{"enough trusted witnesses", good, l.trust(t, 0, 1), Policy{MinWitnesses: 2}, Valid, "recorded"},
		{"head too small for the entry", short.Marshal(), l.trust(t), Policy{}, NotRecorded, "does not contain position 5"},
		{"truncated", good[:len(good)/2], l.trust(t), Policy{}, Malformed, "not a valid certificate"},
		{"empty", nil, l.trust(t), Policy{}, Malformed, "not a valid certificate"},
		{"issue time edited", editJSON(t, good, func(j *jsonCertificate) { j.IssuedAt = "2027-01-01T00:00:00Z" }), l.trust(t), Policy{}, Malformed, "edited after"},
		{"fingerprint member edited", editJSON(t, good, func(j *jsonCertificate) { j.Fingerprint = strings.Repeat("ab", 32) }), l.trust(t), Policy{}, Malformed, "edited after"},
		{"unknown member", editJSON(t, good, func(j *jsonCertificate) { j.Format = "x" }), l.trust(t), Policy{}, Malformed, "format"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := NewVerifier(VerifierConfig{Trust: tc.trust})
			if err != nil {
				t.Fatal(err)
			}
			r := v.Verify(tc.cert, tc.policy)
			if r.Verdict != tc.want || !strings.Contains(r.Reason, tc.reason) {
				t.Fatalf("got %s (%s), want %s with %q; err %v", r.Verdict, r.Reason, tc.want, tc.reason, r.Err)
			}
			if (r.Err == nil) != (r.Verdict == Valid) {
				t.Fatalf("verdict %s with error %v", r.Verdict, r.Err)
			}
			if strings.Contains(r.Reason, "\n") {
				t.Fatalf("reason is not one line: %q", r.Reason)
			}
		})
	}
}

func mustVerifier(t *testing.T, name string) *checkpoint.Verifier {
	t.Helper()
	k, _ := sm2.GenerateKey()
	s, err := checkpoint.NewSigner(name, k)
	if err != nil {
		t.Fatal(err)
	}
	return s.Verifier()
}

func mustEntry(t *testing.T, b []byte) evidence.Entry {
	t.Helper()
	e, err := evidence.UnmarshalEntry(b)
	if err != nil {
		t.Fatal(err)
	}
	return *e
}

// flipSigByte corrupts the DER signature inside the signature line of
// signer, keeping the line well-formed and its key ID intact.
func flipSigByte(t *testing.T, signed []byte, signer string) []byte {
	t.Helper()
	sigs, err := checkpoint.Signatures(signed)
	if err != nil {
		t.Fatal(err)
	}
	text, _, _ := bytes.Cut(signed, []byte("\n\n"))
	out := append(bytes.Clone(text), '\n', '\n')
	for _, s := range sigs {
		line := s.Line
		if s.Name == signer {
			raw := append(binaryKeyID(s.KeyID), s.Sig...)
			raw[len(raw)-5] ^= 0x01
			line = []byte("— " + s.Name + " " + b64(raw) + "\n")
		}
		out = append(out, line...)
	}
	return out
}

func TestWitnessesReported(t *testing.T) {
	l := newTestLog(t, 3, beijing, guangzhou)
	r := l.verifier(t, 1).Verify(l.cert(t, 2, true).Marshal(), Policy{})
	if r.Verdict != Valid {
		t.Fatalf("%s: %s", r.Verdict, r.Reason)
	}
	got := map[string]bool{}
	for _, w := range r.Details.Witnesses {
		got[w.Court] = w.Trusted
		// Only a verified cosignature's time is shown (issue 13, item 8).
		want := l.headTime.Add(60e9)
		if !w.Trusted {
			want = time.Time{}
		}
		if !w.CosignedAt.Equal(want) {
			t.Errorf("witness %s (trusted %v) cosigned at %v, want %v", w.Court, w.Trusted, w.CosignedAt, want)
		}
	}
	if len(got) != 2 || got[beijing] || !got[guangzhou] {
		t.Fatalf("witnesses %+v: want beijing untrusted, guangzhou trusted", r.Details.Witnesses)
	}
	r = l.verifier(t, 0, 1).Verify(l.cert(t, 2, false).Marshal(), Policy{})
	if r.Verdict != Valid || len(r.Details.Witnesses) != 0 {
		t.Fatalf("uncosigned head: %s, witnesses %+v", r.Verdict, r.Details.Witnesses)
	}
}

// TestEveryPositionEveryTruncation: each entry of a log gets a valid
// certificate; every proper prefix of one is MALFORMED, never a panic and
// never anything better.
func TestEveryPositionEveryTruncation(t *testing.T) {
	l := newTestLog(t, 7)
	v := l.verifier(t)
	for i := range l.entries {
		c := l.cert(t, i, false)
		if r := v.Verify(c.Marshal(), Policy{Fingerprint: fp(l.files[i])}); r.Verdict != Valid {
			t.Fatalf("entry %d: %s: %s", i, r.Verdict, r.Reason)
		}
	}
	b := l.cert(t, 6, false).Marshal()
	for n := 0; n < len(b)-1; n++ { // the last byte is the optional newline
		if r := v.Verify(b[:n], Policy{}); r.Verdict != Malformed {
			t.Fatalf("prefix of %d bytes: %s: %s", n, r.Verdict, r.Reason)
		}
	}
}

func TestJSONRoundTrip(t *testing.T) {
	l := newTestLog(t, 4, beijing)
	c := l.cert(t, 1, true)
	b := c.Marshal()
	d, err := Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if again := d.Marshal(); !bytes.Equal(again, b) {
		t.Fatalf("marshal of the decoded certificate differs:\n%s\n%s", again, b)
	}
	if d.ID != c.ID || len(d.ID) != IDLen || d.Entry.EvidenceID != c.Entry.EvidenceID || !d.IssuedAt.Equal(c.IssuedAt) {
		t.Fatalf("decoded %+v, issued %+v", d, c)
	}
	// Any whitespace a JSON tool adds keeps the certificate valid.
	var compact bytes.Buffer
	if err := json.Compact(&compact, b); err != nil {
		t.Fatal(err)
	}
	if _, err := Unmarshal(compact.Bytes()); err != nil {
		t.Fatalf("compacted: %v", err)
	}
	if _, err := Unmarshal(append(bytes.Clone(b), []byte(`{}`)...)); err == nil {
		t.Fatal("accepted a second JSON value after the certificate")
	}
}

func TestIssueRejectsParts(t *testing.T) {
	l := newTestLog(t, 4)
	for name, edit := range map[string]func(in *Input){
		"index of another entry": func(in *Input) { in.Index = 2 },
		"proof of another entry": func(in *Input) { in.Proof = l.input(t, 2, false).Proof },
		"bad issuer":             func(in *Input) { in.IssuedBy = "Beijing Court" },
		"entry bytes cut":        func(in *Input) { in.Entry = in.Entry[:len(in.Entry)-1] },
		"head not a note":        func(in *Input) { in.SignedHead = []byte("hangzhou\n") },
		"head too small": func(in *Input) {
			in.SignedHead = l.head(t, 1, false)
		},
	} {
		in := l.input(t, 1, false)
		edit(&in)
		if _, err := Issue(in); err == nil {
			t.Errorf("%s: issued", name)
		}
	}
}

func TestTlogProofText(t *testing.T) {
	l := newTestLog(t, 3, beijing)
	c := l.cert(t, 2, true)
	text := string(c.TlogProof())
	lines := strings.Split(text, "\n")
	// Index 2 of 3 leaves: one proof hash (the root of leaves 0-1).
	if lines[0] != "c2sp.org/tlog-proof@v1" || lines[1] != "index 2" || lines[3] != "" || lines[4] != hangzhou {
		t.Fatalf("unexpected tlog-proof text:\n%s", text)
	}
	root01, _ := merkle.Root(context.Background(), l.store, 2)
	if lines[2] != b64(root01) {
		t.Fatalf("proof line %s, want %s", lines[2], b64(root01))
	}
	for name, bad := range map[string]string{
		"extra line":     strings.Replace(text, "index 2\n", "extra AAAA\nindex 2\n", 1),
		"leading zero":   strings.Replace(text, "index 2\n", "index 02\n", 1),
		"short hash":     strings.Replace(text, lines[2], b64(root01[:31]), 1),
		"no empty line":  strings.Replace(text, "\n\n"+hangzhou, "\n"+hangzhou, 1),
		"other protocol": strings.Replace(text, "tlog-proof@v1", "tlog-proof@v2", 1),
	} {
		if _, _, _, err := parseTlogProof([]byte(bad)); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
}

func TestVerdictNames(t *testing.T) {
	for v := Valid; v <= Malformed; v++ {
		back, err := ParseVerdict(v.String())
		if err != nil || back != v || v.Chinese() == "" {
			t.Errorf("verdict %d: %q %q %v", v, v.String(), v.Chinese(), err)
		}
	}
	if _, err := ParseVerdict("MAYBE"); err == nil {
		t.Error("parsed an unknown verdict")
	}
}
