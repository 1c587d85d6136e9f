package web

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
)

// FuzzParseSignIn: whatever the body, the parser answers a usable token
// or a refusal with a status and a message, never a panic; an accepted
// token is what an Authorization header can carry, and survives being
// sent again in either encoding.
func FuzzParseSignIn(f *testing.F) {
	for _, seed := range []struct{ ct, body string }{
		{"application/json", `{"token":"judge-token-1"}`},
		{"application/json; charset=utf-8", `{"token":" abc\r\n"}`},
		{"application/json", `{"token":"abc"} trailing`},
		{"application/json", `{"TOKEN":"abc","token":"def"}`},
		{"application/json", `{"token":"\u0000"}`},
		{"application/json", `[1,2]`},
		{"application/x-www-form-urlencoded", "token=abc&submit=%E7%99%BB%E5%BD%95"},
		{"application/x-www-form-urlencoded", "token=a%20b"},
		{"application/x-www-form-urlencoded", "token=%zz"},
		{"multipart/form-data; boundary=x", "--x--"},
		{"", ""},
	} {
		f.Add(seed.ct, []byte(seed.body))
	}
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		tok, bad := parseSignIn(contentType, body)
		if bad != nil {
			if (bad.status != 400 && bad.status != 415) || bad.reason == "" || bad.msg == "" {
				t.Fatalf("refusal %#v is not a 400/415 with reason and message", bad)
			}
			if tok != "" {
				t.Fatalf("refusal with token %q", tok)
			}
			return
		}
		if tok == "" || len(tok) > maxTokenLen {
			t.Fatalf("accepted token of %d bytes", len(tok))
		}
		for i := 0; i < len(tok); i++ {
			if tok[i] <= ' ' || tok[i] > '~' {
				t.Fatalf("accepted token %q with byte %#x", tok, tok[i])
			}
		}
		j, _ := json.Marshal(map[string]string{"token": tok})
		if again, bad := parseSignIn("application/json", j); bad != nil || again != tok {
			t.Fatalf("token %q as JSON %s parses as %q, %v", tok, j, again, bad)
		}
		form := url.Values{"token": {tok}}.Encode()
		if again, bad := parseSignIn("application/x-www-form-urlencoded", []byte(form)); bad != nil || again != tok {
			t.Fatalf("token %q as form %s parses as %q, %v", tok, form, again, bad)
		}
		if strings.TrimSpace(tok) != tok {
			t.Fatalf("token %q not trimmed", tok)
		}
	})
}
