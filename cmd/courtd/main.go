// Command courtd runs a court node, or a local demo of three courts.
//
//	courtd run --config node.yaml      one node, configured by file, COURTD_* and flags
//	courtd demo [--dir DIR]            Hangzhou, Beijing and Guangzhou, 3 nodes each, on loopback
//	courtd keygen --court ID PREFIX    a court signing key (first, or next in a rotation)
//	courtd init --spec FILE --out DIR   keys, certificates, tokens, node.yaml, systemd units of a deployment
//	courtd status --config node.yaml   every node of the court in one table (with an admin's --cert)
//
// Exit codes: 0 after a clean shutdown (SIGINT, SIGTERM); 1 on an error;
// 2 on a wrong command line.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/courtledger/courtledger/court"
)

var errUsage = errors.New("usage")

func main() {
	if err := newRoot().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "courtd:", err)
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

func newRoot() *cobra.Command {
	root := &cobra.Command{Use: "courtd", Short: "Run an internet court's evidence ledger node", SilenceUsage: true, SilenceErrors: true}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return fmt.Errorf("%w: %w", errUsage, err) })
	// The same convention as evidencectl: text by default, one JSON
	// document with --json (run logs JSON lines already; demo prints a
	// walk-through for people and refuses --json).
	root.PersistentFlags().Bool("json", false, "print one JSON document instead of text")
	root.AddCommand(runCmd(), demoCmd(), devcaCmd(), tokenCmd(), keygenCmd())
	root.AddCommand(tsaCmd())
	root.AddCommand(backupCmd(), restoreCmd(), recoverCmd())
	root.AddCommand(initCmd(), statusCmd())
	return root
}

func runCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run one court node",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if jsonOutput(cmd) {
				return fmt.Errorf("%w: run logs JSON lines on stderr already; --json is for commands that print a result", errUsage)
			}
			path, _ := cmd.Flags().GetString("config")
			fc, err := court.LoadConfig(path, cmd.Flags())
			if err != nil {
				return err
			}
			log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
			cfg, err := fc.NodeConfig(log)
			if err != nil {
				return err
			}
			if clock := faultClock(log); clock != nil { // the fault suite's only; see faulthooks.go
				cfg.Clock = clock
			}
			n, err := court.Start(cfg)
			if err != nil {
				return err
			}
			done := make(chan struct{})
			defer close(done)
			snapshotOnSignal(n.Ledger().Snapshot, log, done) // faulthooks.go
			waitForSignal()
			log.Info("shutting down")
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			return n.Shutdown(ctx)
		},
	}
	f := cmd.Flags()
	f.String("config", "", "YAML configuration file")
	f.String("court", "", "court ID (its log's origin)")
	f.String("node-id", "", "this node's ID")
	f.String("data-dir", "", "data directory")
	f.String("raft-addr", "", "Raft listen address")
	f.String("grpc-addr", "", "gRPC listen address")
	f.String("http-addr", "", "REST/health listen address")
	f.String("court-key-file", "", "the court's SM2 private key (PKCS#8 PEM)")
	f.Bool("bootstrap", false, "start a new court with the configured peers as voters")
	// Security (issue 7).
	f.String("tls-cert-file", "", "this node's TLS certificate, PEM (URI SAN courtledger://node/<court>/<node>)")
	f.String("tls-key-file", "", "its key, PEM, mode 0600 (may be the certificate's file)")
	f.String("tls-ca-file", "", "CA certificates trusted for clients, nodes and peer courts")
	f.Bool("insecure", false, "serve plain text (debugging only; logs a warning)")
	return cmd
}

func waitForSignal() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	<-ch
	signal.Stop(ch)
}

func jsonOutput(cmd *cobra.Command) bool {
	j, _ := cmd.Flags().GetBool("json")
	return j
}

// printJSON prints v as one indented JSON document.
func printJSON(cmd *cobra.Command, v any) error {
	enc := json.NewEncoder(cmd.OutOrStdout())
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
