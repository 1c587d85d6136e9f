package webcapture

import "testing"

func TestSURT(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://www.Example.com/A/b.html", "com,example)/a/b.html"},
		{"https://shop.example.cn:8443/item?b=2&a=1", "cn,example,shop:8443)/item?a=1&b=2"},
		{"http://127.0.0.1:80/", "1,0,0,127)/"},
		{"https://www2.example.org", "org,example)/"},
	} {
		if got := surt(tc.in); got != tc.want {
			t.Errorf("surt(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
