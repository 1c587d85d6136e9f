package main

import (
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/courtledger/courtledger/crypto/checkpoint"
	"github.com/courtledger/courtledger/evidence/certificate"
)

// readTrust reads the trust file at path (certificate.ParseTrustFile:
// one court key a line, keygen's "trust line:" label allowed), naming the
// file in an error.
func readTrust(path string) (*certificate.Trust, error) {
	if path == "" {
		return nil, fmt.Errorf("%w: --trust is required: receipts and certificates are checked against the courts' keys", errUsage)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("trust file: %w", err)
	}
	t, err := certificate.ParseTrustFile(raw)
	if err != nil {
		return nil, fmt.Errorf("trust file %s: %w", path, err)
	}
	return t, nil
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
