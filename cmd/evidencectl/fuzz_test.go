package main

import (
	"strings"
	"testing"
)

// endpoint never panics; what it accepts is a HOST:PORT found in the
// input.
func FuzzEndpoint(f *testing.F) {
	for _, s := range []string{"127.0.0.1:8100", "https://127.0.0.1:8100/", "[::1]:8100", "host", "https://", "grpc://a:1", "a:b:c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := endpoint(s)
		if err != nil {
			return
		}
		if !strings.Contains(s, a) || strings.Contains(a, "://") {
			t.Fatalf("endpoint(%q) = %q", s, a)
		}
	})
}
