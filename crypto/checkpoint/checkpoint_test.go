package checkpoint

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/courtledger/courtledger/crypto/merkle"
	"github.com/courtledger/courtledger/crypto/sm2"
)

const origin = "hangzhou.court.example/evidence"

func newSigner(t testing.TB, name string) *Signer {
	t.Helper()
	k, err := sm2.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSigner(name, k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func testHead() TreeHead {
	return TreeHead{
		Origin: origin,
		Size:   1234,
		Root:   merkle.RootOf([][]byte{[]byte("a"), []byte("b")}),
		Time:   time.UnixMilli(1764050223123).UTC(),
	}
}

func TestMarshalParseRoundTrip(t *testing.T) {
	h := testHead()
	text, err := h.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(text), "\n")
	if len(lines) != 5 || lines[0] != origin || lines[1] != "1234" || lines[3] != "time-ms 1764050223123" || lines[4] != "" {
		t.Fatalf("unexpected text %q", text)
	}
	got, err := ParseText(text)
	if err != nil {
		t.Fatal(err)
	}
	if got.Origin != h.Origin || got.Size != h.Size || !bytes.Equal(got.Root, h.Root) || !got.Time.Equal(h.Time) {
		t.Fatalf("round trip: got %+v, want %+v", got, h)
	}
}

func TestParseTextRejects(t *testing.T) {
	good, _ := testHead().Marshal()
	gl := strings.Split(string(good), "\n")
	join := func(l ...string) []byte { return []byte(strings.Join(l, "\n")) }
	tests := []struct {
		name string
		text []byte
		want error
	}{
		{"empty", nil, ErrMalformed},
		{"leading zero size", join(gl[0], "01234", gl[2], gl[3], ""), ErrNotCanonical},
		{"plus sign size", join(gl[0], "+1234", gl[2], gl[3], ""), ErrMalformed},
		{"negative size", join(gl[0], "-1", gl[2], gl[3], ""), ErrMalformed},
		{"no time line", join(gl[0], gl[1], gl[2], ""), ErrMalformed},
		{"time without newline", join(gl[0], gl[1], gl[2], gl[3]), ErrMalformed},
		{"time leading zero", join(gl[0], gl[1], gl[2], "time-ms 01764050223123", ""), ErrNotCanonical},
		{"negative time", join(gl[0], gl[1], gl[2], "time-ms -5", ""), ErrMalformed},
		{"extra extension line", join(gl[0], gl[1], gl[2], gl[3], "foo", ""), ErrMalformed},
		{"short root", join(gl[0], gl[1], "AAAA", gl[3], ""), ErrMalformed},
		{"unpadded base64 root", join(gl[0], gl[1], strings.TrimRight(gl[2], "="), gl[3], ""), ErrMalformed},
		{"origin with space", join("a b", gl[1], gl[2], gl[3], ""), ErrMalformed},
		{"origin with plus", join("a+b", gl[1], gl[2], gl[3], ""), ErrMalformed},
		{"CRLF", []byte(strings.ReplaceAll(string(good), "\n", "\r\n")), ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParseText(tc.text); !errors.Is(err, tc.want) {
				t.Fatalf("ParseText(%q) = %v, want %v", tc.text, err, tc.want)
			}
		})
	}
}

func TestSignOpen(t *testing.T) {
	s := newSigner(t, origin)
	witness := newSigner(t, "beijing.court.example/evidence")
	h := testHead()

	signed, err := Sign(h, s, witness)
	if err != nil {
		t.Fatal(err)
	}
	got, n, err := Open(signed, s.Verifier(), witness.Verifier())
	if err != nil {
		t.Fatal(err)
	}
	if got.Size != h.Size || len(n.Sigs) != 2 {
		t.Fatalf("Open: head %+v, %d verified sigs", got, len(n.Sigs))
	}
	// Without the witness's key its signature is merely unverified.
	if _, n, err = Open(signed, s.Verifier()); err != nil || len(n.Sigs) != 1 || len(n.UnverifiedSigs) != 1 {
		t.Fatalf("Open without witness key: err %v, note %+v", err, n)
	}

	other := newSigner(t, origin)
	tests := []struct {
		name   string
		signed []byte
		v      note.Verifier
		want   error
	}{
		{"wrong key same name", signed, other.Verifier(), ErrSignature},
		{"only the witness's key", signed, witness.Verifier(), ErrOrigin},
		{"tampered size", bytes.Replace(signed, []byte("\n1234\n"), []byte("\n1235\n"), 1), s.Verifier(), ErrSignature},
		{"tampered time", bytes.Replace(signed, []byte("223123"), []byte("223124"), 1), s.Verifier(), ErrSignature},
		{"no signatures", signed[:bytes.Index(signed, []byte("\n\n"))+2], s.Verifier(), ErrMalformed},
		{"too large", append(bytes.Repeat([]byte("x"), MaxNoteSize), signed...), s.Verifier(), ErrTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := Open(tc.signed, tc.v); !errors.Is(err, tc.want) {
				t.Fatalf("Open = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestSignRefusesOtherOrigin(t *testing.T) {
	s := newSigner(t, "beijing.court.example/evidence")
	if _, err := Sign(testHead(), s); !errors.Is(err, ErrOrigin) {
		t.Fatalf("Sign with another court's key = %v, want ErrOrigin", err)
	}
}

// The note's signature is a plain SM2 signature over the note text, so any
// SM2 implementation can check it without the note library.
func TestNoteSignatureIsPlainSM2(t *testing.T) {
	s := newSigner(t, origin)
	signed, err := Sign(testHead(), s)
	if err != nil {
		t.Fatal(err)
	}
	n, err := note.Open(signed, note.VerifierList(s.Verifier()))
	if err != nil {
		t.Fatal(err)
	}
	text, _ := testHead().Marshal()
	if n.Text != string(text) {
		t.Fatalf("note text %q, want %q", n.Text, text)
	}
	sigLine := string(signed[len(text)+1:])
	name, b64, _ := strings.Cut(strings.TrimPrefix(strings.TrimSuffix(sigLine, "\n"), "— "), " ")
	if name != origin {
		t.Fatalf("signature line names %q", name)
	}
	raw, err := decodeStd(b64)
	if err != nil {
		t.Fatal(err)
	}
	if got := uint32(raw[0])<<24 | uint32(raw[1])<<16 | uint32(raw[2])<<8 | uint32(raw[3]); got != s.KeyHash() {
		t.Fatalf("key ID %08x, want %08x", got, s.KeyHash())
	}
	if err := s.Verifier().PublicKey().Verify(text, raw[4:]); err != nil {
		t.Fatalf("plain SM2 verify of note signature: %v", err)
	}
}

func TestVerifierKeyString(t *testing.T) {
	v := newSigner(t, origin).Verifier()
	p, err := ParseVerifier(v.String())
	if err != nil {
		t.Fatal(err)
	}
	if p.Name() != v.Name() || p.KeyHash() != v.KeyHash() || !p.PublicKey().Equal(v.PublicKey()) {
		t.Fatal("parsed verifier differs")
	}
	good := v.String()
	name, rest, _ := strings.Cut(good, "+")
	id, b64, _ := strings.Cut(rest, "+")
	tests := map[string]string{
		"renamed":        "other.example" + "+" + id + "+" + b64,
		"wrong id":       name + "+00000000+" + b64,
		"short id":       name + "+0000+" + b64,
		"missing parts":  name,
		"bad base64":     name + "+" + id + "+!!!!",
		"ed25519 prefix": name + "+" + id + "+AQ" + b64[2:],
		"empty name":     "+" + id + "+" + b64,
	}
	for tname, s := range tests {
		t.Run(tname, func(t *testing.T) {
			if _, err := ParseVerifier(s); err == nil {
				t.Fatalf("ParseVerifier(%q) accepted", s)
			}
		})
	}
}

func FuzzParseText(f *testing.F) {
	good, _ := testHead().Marshal()
	f.Add(good)
	f.Add([]byte("a\n0\n" + strings.Repeat("A", 43) + "=\ntime-ms 0\n"))
	f.Fuzz(func(t *testing.T, text []byte) {
		h, err := ParseText(text)
		if err != nil {
			return
		}
		again, err := h.Marshal()
		if err != nil || !bytes.Equal(again, text) {
			t.Fatalf("accepted non-canonical text %q (re-marshal %q, %v)", text, again, err)
		}
	})
}

func FuzzOpen(f *testing.F) {
	k, err := sm2.ParsePrivateKeyPEM([]byte(fuzzKeyPEM))
	if err != nil {
		f.Fatal(err)
	}
	s, _ := NewSigner(origin, k)
	signed, err := Sign(testHead(), s)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(signed)
	f.Fuzz(func(t *testing.T, b []byte) {
		h, _, err := Open(b, s.Verifier())
		if err != nil {
			return
		}
		// Whatever verifies must carry a genuine signature over canonical text.
		text, err := h.Marshal()
		if err != nil || !bytes.HasPrefix(b, append(text, '\n')) {
			t.Fatalf("accepted %q", b)
		}
	})
}

// A fixed key keeps the fuzz corpus meaningful across runs.
const fuzzKeyPEM = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqBHM9VAYItBG0wawIBAQQgB54nGBh7qMigbQL9
XK4+daqaM2OgJKzjQz9H4i7RDyWhRANCAASx9kDSkxbiurVU6sXqgKTMNkZkEUJj
DzW6dPoa5OU52ksv1hEl344LpSbWs1O8VSDXtNLtbHeRuPZpYhK05a/P
-----END PRIVATE KEY-----
`

func decodeStd(s string) ([]byte, error) { return base64.StdEncoding.DecodeString(s) }

// A court that rotated its key has heads signed by the old key and heads
// signed by the new; OpenAny with both accepts either, and stays as strict
// as Open about every key it is given.
func TestOpenAnyRotatedKey(t *testing.T) {
	oldKey, newKey := newSigner(t, origin), newSigner(t, origin)
	witness, err := NewCosigner("beijing.court.example/evidence", mustKey(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	both := []note.Verifier{newKey.Verifier(), oldKey.Verifier()}

	before := testHead()
	after := testHead()
	after.Size++
	oldSigned, err := Sign(before, oldKey)
	if err != nil {
		t.Fatal(err)
	}
	line, err := Cosign(oldSigned, witness)
	if err != nil {
		t.Fatal(err)
	}
	if oldSigned, err = WithSignatures(oldSigned, line); err != nil {
		t.Fatal(err)
	}
	newSigned, err := Sign(after, newKey)
	if err != nil {
		t.Fatal(err)
	}
	for name, signed := range map[string][]byte{"old head": oldSigned, "new head": newSigned} {
		if _, _, err := OpenAny(signed, both, witness.Verifier()); err != nil {
			t.Errorf("%s: OpenAny with both keys: %v", name, err)
		}
	}
	if _, n, err := OpenAny(oldSigned, both, witness.Verifier()); err != nil || len(n.Sigs) != 2 {
		t.Fatalf("old head with the witness: err %v, note %+v; want the court's and the witness's signatures", err, n)
	}

	// The old key's line from the old head, over another text: well formed,
	// and wrong here. Appended to a head the new key signed properly, it
	// must still reject the note when the old key is known.
	sigs, err := Signatures(oldSigned)
	if err != nil {
		t.Fatal(err)
	}
	forged, err := WithSignatures(newSigned, sigs[0].Line)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := OpenAny(forged, []note.Verifier{newKey.Verifier()}); err != nil {
		t.Fatalf("forged line by a key not given: %v, want it merely unverified", err)
	}

	mixed := []note.Verifier{newKey.Verifier(), witness.Verifier()}
	tests := []struct {
		name   string
		signed []byte
		court  []note.Verifier
		want   error
	}{
		{"old head, only the new key", oldSigned, []note.Verifier{newKey.Verifier()}, ErrSignature},
		{"new head, only the old key", newSigned, []note.Verifier{oldKey.Verifier()}, ErrSignature},
		{"bad signature by a known old key", forged, both, ErrSignature},
		{"no keys", newSigned, nil, ErrSignature},
		{"keys of two names", newSigned, mixed, ErrOrigin},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := OpenAny(tc.signed, tc.court); !errors.Is(err, tc.want) {
				t.Fatalf("OpenAny = %v, want %v", err, tc.want)
			}
		})
	}
}

func mustKey(t testing.TB) *sm2.PrivateKey {
	t.Helper()
	k, err := sm2.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}
