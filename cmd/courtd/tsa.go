package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/courtledger/courtledger/court/devtsa"
)

// tsaCmd runs the development time-stamping authority, so that a demo or a
// court tried by hand has its tree heads stamped with no setup. Production
// courts name a national TSA instead (docs/timestamps.md).
func tsaCmd() *cobra.Command {
	var dir, listen string
	cmd := &cobra.Command{
		Use:   "tsa",
		Short: "Run a development RFC 3161 time-stamping authority on loopback",
		Long: `tsa keeps a development time-stamping authority in --dir (tsa-root.pem,
the root to give courts; tsa.pem, the TSA certificate and key, mode 0600),
made on first use, and answers RFC 3161 requests over plain HTTP on
--listen, a loopback address: tokens are signed, TLS is not what protects
them. It prints the URL and the root file, and runs until SIGINT or SIGTERM.

Its tokens are ECDSA P-256 with SHA-256, under the policy
1.3.6.1.4.1.32473.3161.1; stock OpenSSL 3 checks them:

  openssl ts -verify -data head.txt -in token.tsr -CAfile DIR/tsa-root.pem`,
		Example: `  courtd tsa --dir pki --listen 127.0.0.1:3161`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := loopbackOnly(listen); err != nil {
				return err
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return err
			}
			defer ln.Close()
			d, err := devtsa.LoadOrCreate(dir)
			if err != nil {
				return err
			}
			out := struct {
				URL    string `json:"url"`
				Root   string `json:"root"`
				Policy string `json:"policy"`
			}{URL: "http://" + ln.Addr().String() + "/", Root: filepath.Join(dir, devtsa.RootFile), Policy: devtsa.Policy.String()}
			if jsonOutput(cmd) {
				if err := printJSON(cmd, out); err != nil {
					return err
				}
			} else {
				w := cmd.OutOrStdout()
				fmt.Fprintf(w, "development TSA (RFC 3161 over HTTP): %s\n", out.URL)
				fmt.Fprintf(w, "give courts its root:  %s   (policy %s)\n", out.Root, out.Policy)
				fmt.Fprintf(w, "check a token:         openssl ts -verify -data head.txt -in token.tsr -CAfile %s\n", out.Root)
				fmt.Fprintln(w, "stop with Ctrl-C")
			}

			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
			srv := &http.Server{
				Handler:           d.Handler(),
				ReadHeaderTimeout: 10 * time.Second,
				ReadTimeout:       30 * time.Second,
				WriteTimeout:      30 * time.Second,
				ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
			}
			served := make(chan error, 1)
			go func() { served <- srv.Serve(ln) }()
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			select {
			case err := <-served:
				return fmt.Errorf("development TSA: %w", err)
			case <-ctx.Done():
			}
			shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := srv.Shutdown(shutdown); err != nil {
				return err
			}
			if err := <-served; !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "pki", "where the TSA's root, certificate and key are kept")
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:3161", "loopback address to answer on (port 0: any free port)")
	return cmd
}

// loopbackOnly refuses an address off loopback: the development TSA's key
// lies in a directory, unprotected, and its root is trusted by nothing
// but demos; a court that others rely on uses a national TSA.
func loopbackOnly(listen string) error {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("%w: --listen %q: %v; give HOST:PORT, e.g. 127.0.0.1:3161", errUsage, listen, err)
	}
	if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
		return nil
	}
	return fmt.Errorf("%w: --listen %q: the development TSA answers on loopback only (127.0.0.1:PORT or [::1]:PORT); "+
		"for a court others rely on, configure a national TSA (docs/timestamps.md)", errUsage, listen)
}
