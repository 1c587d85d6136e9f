package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/courtledger/courtledger/api/client"
)

// credentials are how evidencectl proves who it is to a court: a client
// certificate (with its key, in one PEM file) or a bearer token, over TLS
// that trusts the court's CA.
type credentials struct {
	ca, cert, token string
	insecure        bool
}

func (c *credentials) flags(cmd *cobra.Command) {
	f := cmd.PersistentFlags()
	f.StringVar(&c.ca, "ca", os.Getenv("EVIDENCECTL_CA"), "CA certificate of the court's nodes, PEM (env EVIDENCECTL_CA)")
	f.StringVar(&c.cert, "cert", os.Getenv("EVIDENCECTL_CERT"), "client certificate and key, one PEM file (env EVIDENCECTL_CERT)")
	f.StringVar(&c.token, "token", "", "bearer token (prefer env EVIDENCECTL_TOKEN: flags show in ps)")
	f.BoolVar(&c.insecure, "insecure", os.Getenv("EVIDENCECTL_INSECURE") == "1", "plain text, for a court run with --insecure (env EVIDENCECTL_INSECURE=1)")
}

func (c *credentials) dialOptions() ([]grpc.DialOption, error) {
	token := c.token
	if token == "" {
		token = os.Getenv("EVIDENCECTL_TOKEN")
	}
	var opts []grpc.DialOption
	if c.insecure {
		if c.cert != "" {
			return nil, fmt.Errorf("--cert needs TLS; drop --insecure")
		}
		fmt.Fprintln(os.Stderr, "evidencectl: warning: plain text; the token and evidence cross the network unprotected")
		opts = append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))
	} else {
		tls, err := client.DialTLS(client.TLSFiles{CAFile: c.ca, CertFile: c.cert})
		if err != nil {
			return nil, err
		}
		opts = append(opts, tls)
	}
	if token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(client.Token(token, c.insecure)))
	}
	return opts, nil
}
