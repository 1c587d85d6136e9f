package certificate

import (
	"strings"
	"testing"

	"github.com/courtledger/courtledger/crypto/checkpoint"
	"github.com/courtledger/courtledger/crypto/sm2"
)

// TestParseTrustFile reads keys as people paste them, and names the line
// that is not a key.
func TestParseTrustFile(t *testing.T) {
	hz, bj := mustVerifier(t, hangzhou), mustVerifier(t, beijing)
	tr, err := ParseTrustFile([]byte("# the courts\r\n\ntrust line:  " + hz.String() + "\r\n   " + bj.String() + "  \n# end"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []*checkpoint.Verifier{hz, bj} {
		keys, ok := tr.Court(want.Name())
		if !ok || len(keys) != 1 || keys[0].String() != want.String() {
			t.Fatalf("court %s: %v, want key %s", want.Name(), keys, want)
		}
	}
	if got := tr.Courts(); len(got) != 2 {
		t.Fatalf("courts %v, want 2", got)
	}

	for _, tc := range []struct {
		name, file, want string
	}{
		{"not a key on line 3", "# c\n" + hz.String() + "\nhangzhou.court.example/evidence+1234\n",
			"line 3 is not a court key"},
		{"the label alone", "trust line:\n" + hz.String() + "\nnot a key", "line 3 is not a court key"},
		{"a key listed twice", hz.String() + "\n" + hz.String() + "\n", "listed twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseTrustFile([]byte(tc.file))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error saying %q", err, tc.want)
			}
			if tc.want != "listed twice" && !strings.Contains(err.Error(), "NAME+KEYID+BASE64") {
				t.Fatalf("%v: does not say what a line must be", err)
			}
		})
	}
	// Nothing but comments trusts no court: every certificate is then
	// UNTRUSTED, as with an empty file.
	tr, err = ParseTrustFile([]byte("# nothing yet\n\n"))
	if err != nil || len(tr.Courts()) != 0 {
		t.Fatalf("comments only: %v, %v", tr, err)
	}
}

// ParseTrustFile never panics; what it takes, it takes as the keys
// written, with or without keygen's "trust line:" label.
func FuzzParseTrustFile(f *testing.F) {
	k, _ := sm2.GenerateKey()
	s, _ := checkpoint.NewSigner(hangzhou, k)
	key := s.Verifier().String()
	f.Add([]byte(key + "\n"))
	f.Add([]byte("trust line:  " + key + "\n# comment\n\n"))
	f.Add([]byte("trust line:\n"))
	f.Add([]byte("hangzhou.court.example/evidence+1234\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		tr, err := ParseTrustFile(raw)
		if err != nil {
			return
		}
		for _, id := range tr.Courts() {
			keys, _ := tr.Court(id)
			for _, v := range keys {
				if !strings.Contains(string(raw), v.String()) {
					t.Fatalf("key %s is not in the input", v)
				}
			}
		}
	})
}
