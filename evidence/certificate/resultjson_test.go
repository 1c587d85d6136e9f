package certificate

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// TestResultJSON: a Result encodes with its verdict by name first, then
// the reason and the details; JSON() is that, indented, with a newline.
func TestResultJSON(t *testing.T) {
	l := newTestLog(t, 3, beijing)
	v := l.verifier(t, 0)
	good := l.cert(t, 1, true).Marshal()
	for _, tc := range []struct {
		input []byte
		want  Verdict
	}{
		{good, Valid},
		{good[:len(good)/2], Malformed},
	} {
		r := v.Verify(tc.input, Policy{})
		if r.Verdict != tc.want {
			t.Fatalf("verdict %s, want %s (%s)", r.Verdict, tc.want, r.Reason)
		}
		b := r.JSON()
		if !strings.HasPrefix(string(b), "{\n  \"verdict\": \""+tc.want.String()+"\",\n  \"reason\": ") || !bytes.HasSuffix(b, []byte("}\n")) {
			t.Fatalf("JSON():\n%s", b)
		}
		var got struct {
			Verdict string          `json:"verdict"`
			Reason  string          `json:"reason"`
			Details json.RawMessage `json:"details"`
			Err     any             `json:"Err"`
		}
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		wantDetails, _ := json.Marshal(r.Details)
		var compact bytes.Buffer
		json.Compact(&compact, got.Details)
		if got.Verdict != tc.want.String() || got.Reason != r.Reason || compact.String() != string(wantDetails) || got.Err != nil {
			t.Fatalf("decoded %+v from\n%s", got, b)
		}
		// Inside other values (evidencectl verify --json's recordings) it
		// encodes the same way.
		inList, _ := json.Marshal([]Result{r})
		flat, _ := json.Marshal(r)
		if string(inList) != "["+string(flat)+"]" || !strings.HasPrefix(string(flat), `{"verdict":"`+tc.want.String()+`"`) {
			t.Fatalf("in a list: %s", inList)
		}
	}
}
