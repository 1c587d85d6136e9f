package court

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/courtledger/courtledger/court/access"
)

// Whatever JSON a platform posts to the REST API, the answer is a 4xx (or
// a receipt), never a server error, and without a valid signature nothing
// is recorded.
func FuzzRESTSubmitJSON(f *testing.F) {
	c := registeredF(f)
	base := "https://" + c.nodes[0].HTTPAddr()
	rc := newREST(c.ca, tokenFor(access.RolePlatform))
	for _, s := range []string{`{}`, `{"submission":{}}`, `{"submission":{"platform":"esign.example","fingerprint":"00"}}`,
		`{"submission":{"signed_at":"2020-01-01T00:00:00Z","metadata":{"a":"b"}},"signature":"AAAA"}`, `[`, `null`, `{"submission":{"title":5}}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		hr, err := rc.Post(base+"/v1/evidence", "", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(hr.Body)
		hr.Body.Close()
		if hr.StatusCode >= 500 || hr.StatusCode == http.StatusOK {
			t.Fatalf("%q: %d %s", body, hr.StatusCode, b)
		}
	})
	if size := c.nodes[0].ledger.Size(); size != 0 {
		f.Fatalf("fuzzed JSON recorded %d entries", size)
	}
}
