package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/courtledger/courtledger/api/client"
	"github.com/courtledger/courtledger/court"
	"github.com/courtledger/courtledger/internal/clusterstatus"
)

// `courtd status`: the table `evidencectl cluster status` prints
// (internal/clusterstatus), from a node's own configuration, for an
// operator logged in on that node's machine.

func statusCmd() *cobra.Command {
	var (
		config, server, certFile, tokenFile string
		perNode                             time.Duration
	)
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Every node of this node's court in one table: role, term, indexes, ledger, head age, disk free, ready",
		Long: `status asks the node of --config (at its own gRPC address, with its CA) for
its court's members, then every member for its own status: role, term,
applied and commit index, log size, ledger file size, age of the newest
signed head, disk free, and whether it is ready or why not. A node that
cannot be reached is a row saying why.

The cluster status is for users (admin, judge, lawyer, platform), not for
nodes: a node's own certificate is refused. Pass an admin's credential:
--cert with the certificate and key courtd init wrote to
operator/admin.pem, or --token-file with operator/admin.token (the nodes
hold its SHA-256). Without either, status tries the node's certificate and
says so when it is refused.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if config == "" {
				return fmt.Errorf("%w: status needs --config (the node's node.yaml)", errUsage)
			}
			fc, err := court.LoadConfig(config, nil)
			if err != nil {
				return err
			}
			if server == "" {
				server = ownAddress(fc)
			}
			dial, asNode, err := statusDial(fc, certFile, tokenFile)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			st, err := clusterstatus.Get(ctx, server, dial, perNode)
			if status.Code(err) == codes.PermissionDenied && asNode {
				return fmt.Errorf("%s refused this node's own certificate (role node may not read the cluster status): "+
					"pass an admin's certificate with --cert (courtd init wrote operator/admin.pem) or its token with --token-file (operator/admin.token): %w",
					server, err)
			}
			if err != nil {
				return fmt.Errorf("cluster status from %s: %w", server, err)
			}
			v := clusterstatus.Ask(ctx, st, dial, perNode)
			if jsonOutput(cmd) {
				return printJSON(cmd, v)
			}
			return clusterstatus.Print(cmd.OutOrStdout(), v)
		},
	}
	f := cmd.Flags()
	f.StringVar(&config, "config", "", "the node's node.yaml")
	f.StringVar(&server, "server", "", "ask this gRPC address instead of the node's own")
	f.StringVar(&certFile, "cert", "", "a user's certificate and key, PEM (an admin's: operator/admin.pem)")
	f.StringVar(&tokenFile, "token-file", "", "a file holding a user's bearer token (an admin's: operator/admin.token)")
	f.DurationVar(&perNode, "node-timeout", 3*time.Second, "how long to wait for each node's answer")
	return cmd
}

// ownAddress is where the node of fc answers gRPC: the address its peers
// know it by (what its certificate names), else its listen address, a
// wildcard host taken as loopback.
func ownAddress(fc court.FileConfig) string {
	for _, p := range fc.Peers {
		if p.NodeID == fc.NodeID && p.GRPCAddr != "" {
			return p.GRPCAddr
		}
	}
	host, port, err := net.SplitHostPort(fc.GRPCAddr)
	if err != nil {
		return fc.GRPCAddr
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// statusDial is how status calls the court: TLS with the node's CA and
// the credential given (a certificate or a token), or the node's own
// certificate (asNode) if none is; plain text, as the node's config says,
// with a token only.
func statusDial(fc court.FileConfig, certFile, tokenFile string) (dial []grpc.DialOption, asNode bool, err error) {
	if certFile != "" && tokenFile != "" {
		return nil, false, fmt.Errorf("%w: --cert or --token-file, not both", errUsage)
	}
	var token string
	if tokenFile != "" {
		b, err := os.ReadFile(tokenFile)
		if err != nil {
			return nil, false, fmt.Errorf("token: %w", err)
		}
		if token = strings.TrimSpace(string(b)); token == "" {
			return nil, false, fmt.Errorf("token file %s is empty", tokenFile)
		}
	}
	if fc.Insecure {
		if token == "" {
			return nil, false, fmt.Errorf("%w: the node serves plain text (insecure: true): pass a user's token with --token-file", errUsage)
		}
		return []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithPerRPCCredentials(client.Token(token, true))}, false, nil
	}
	conf, err := client.TLSFiles{CAFile: fc.TLSCAFile, CertFile: certFile}.Config()
	if err != nil {
		return nil, false, err
	}
	switch {
	case token != "":
		dial = append(dial, grpc.WithPerRPCCredentials(client.Token(token, false)))
	case certFile == "":
		pair, err := tls.LoadX509KeyPair(fc.TLSCertFile, fc.TLSKeyFile)
		if err != nil {
			return nil, false, fmt.Errorf("the node's certificate: %w", err)
		}
		conf.Certificates, asNode = []tls.Certificate{pair}, true
	}
	return append(dial, grpc.WithTransportCredentials(credentials.NewTLS(conf))), asNode, nil
}
