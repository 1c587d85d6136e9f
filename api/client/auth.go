package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// Token is a bearer token sent with every call. It refuses to travel over
// a connection without transport security, unless allowPlaintext is set
// (a court started with --insecure).
func Token(token string, allowPlaintext bool) credentials.PerRPCCredentials {
	return bearer{token: token, plaintext: allowPlaintext}
}

type bearer struct {
	token     string
	plaintext bool
}

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + b.token}, nil
}

func (b bearer) RequireTransportSecurity() bool { return !b.plaintext }

// TLSFiles is a client's TLS setup: the CA that issued the court's node
// certificates and, optionally, a client certificate with its key in one
// PEM file (certificate first), for callers identified by certificate.
type TLSFiles struct {
	CAFile   string
	CertFile string
}

// DialTLS returns the dial option of a TLS connection to a court.
func DialTLS(f TLSFiles) (grpc.DialOption, error) {
	conf, err := f.Config()
	if err != nil {
		return nil, err
	}
	return grpc.WithTransportCredentials(credentials.NewTLS(conf)), nil
}

// Config is the tls.Config of f, also usable for REST.
func (f TLSFiles) Config() (*tls.Config, error) {
	conf := &tls.Config{MinVersion: tls.VersionTLS12}
	if f.CAFile != "" {
		b, err := os.ReadFile(f.CAFile)
		if err != nil {
			return nil, fmt.Errorf("client: CA: %w", err)
		}
		conf.RootCAs = x509.NewCertPool()
		if !conf.RootCAs.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("client: CA %s: no certificates", f.CAFile)
		}
	}
	if f.CertFile != "" {
		b, err := os.ReadFile(f.CertFile)
		if err != nil {
			return nil, fmt.Errorf("client: certificate: %w", err)
		}
		cert, err := tls.X509KeyPair(b, b)
		if err != nil {
			return nil, fmt.Errorf("client: certificate %s: %w", f.CertFile, err)
		}
		conf.Certificates = []tls.Certificate{cert}
	}
	return conf, nil
}
