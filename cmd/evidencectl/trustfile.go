package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/courtledger/courtledger/crypto/checkpoint"
	"github.com/courtledger/courtledger/evidence/certificate"
)

// trustLinePrefix is what `courtd keygen` prints before a court's key;
// a line pasted with it is taken without it.
const trustLinePrefix = "trust line:"

// readTrust reads a trust file (one court key a line, as `courtd keygen`
// prints it); a line pasted with keygen's "trust line:" label is read
// without it. An unreadable line is named, with what a line must be.
func readTrust(path string) (*certificate.Trust, error) {
	if path == "" {
		return nil, fmt.Errorf("%w: --trust is required: receipts and certificates are checked against the courts' keys", errUsage)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("trust file: %w", err)
	}
	t, err := parseTrust(raw)
	if err != nil {
		return nil, fmt.Errorf("trust file %s: %w", path, err)
	}
	return t, nil
}

// parseTrust is readTrust's parser.
func parseTrust(raw []byte) (*certificate.Trust, error) {
	var clean bytes.Buffer
	for n, line := range strings.Split(string(raw), "\n") {
		line = strings.TrimSpace(line)
		if rest, ok := strings.CutPrefix(line, trustLinePrefix); ok {
			line = strings.TrimSpace(rest)
		}
		if line != "" && !strings.HasPrefix(line, "#") {
			if _, err := checkpoint.ParseVerifier(line); err != nil {
				return nil, fmt.Errorf("line %d is not a court key (%v): each line is one key, NAME+KEYID+BASE64, as `courtd keygen` prints after %q; '#' starts a comment", n+1, err, trustLinePrefix)
			}
		}
		clean.WriteString(line + "\n")
	}
	return certificate.ParseTrust(&clean)
}

// trustMap is a trust as the Go client takes it: every court's keys.
func trustMap(t *certificate.Trust) map[string][]*checkpoint.Verifier {
	m := map[string][]*checkpoint.Verifier{}
	for _, id := range t.Courts() {
		m[id], _ = t.Court(id)
	}
	return m
}

// endpoint turns a --server value into a gRPC address: a URL's scheme
// (https://, http://, grpc://) and trailing slash are dropped, so a
// node's address copied from a browser or curl works; anything else that
// is not HOST:PORT is refused with what to give.
func endpoint(s string) (string, error) {
	addr := strings.TrimSpace(s)
	for _, scheme := range []string{"https://", "http://", "grpcs://", "grpc://", "dns:///"} {
		if len(addr) >= len(scheme) && strings.EqualFold(addr[:len(scheme)], scheme) {
			addr = addr[len(scheme):]
			break
		}
	}
	addr = strings.TrimSuffix(addr, "/")
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" || strings.Contains(port, "/") || host == "" && port == "" {
		return "", fmt.Errorf("%w: --server %q is not HOST:PORT: give each node's gRPC address, e.g. 127.0.0.1:8100, several separated by commas", errUsage, s)
	}
	return addr, nil
}
