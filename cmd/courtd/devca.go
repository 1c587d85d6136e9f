package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/courtledger/courtledger/court/access"
	"github.com/courtledger/courtledger/court/devca"
)

// devcaCmd makes a development CA and certificates with courtledger
// identities, for the demo and for trying a court by hand. Production
// courts issue certificates from their own PKI with the same URI SANs.
func devcaCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "devca ROLE/ID...",
		Short: "Make a development CA and certificates (one PEM with key per identity)",
		Long: `devca keeps a development CA in --dir (ca.pem, ca.key) and issues a
certificate for each identity given, written with its key to
DIR/<role>-<last part of id>.pem (mode 0600). Identities are ROLE/ID:

  node/<court ID>/<node ID>   a node of a court (server and client of its peers)
  platform/<platform ID>      a platform that files evidence
  judge/<name>  lawyer/<name>  admin/<name>
  court/<court ID>            another court, for sync

Certificates are valid for a year, for 127.0.0.1 and localhost.`,
		Example: `  courtd devca --dir pki node/hangzhou.court.example/evidence/hz-1 platform/esign.example judge/wang`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ca, err := devca.LoadOrCreate(dir)
			if err != nil {
				return err
			}
			type issued struct {
				Identity string `json:"identity"`
				File     string `json:"file"`
			}
			out := struct {
				CA           string   `json:"ca"`
				Certificates []issued `json:"certificates"`
			}{CA: filepath.Join(dir, "ca.pem")}
			for _, a := range args {
				role, id, ok := cut(a)
				if !ok {
					return fmt.Errorf("%w: %q is not ROLE/ID", errUsage, a)
				}
				name := string(role) + "-" + filepath.Base(id)
				path, err := ca.IssueFile(dir, name, access.Identity{Role: role, ID: id})
				if err != nil {
					return fmt.Errorf("%s: %w", a, err)
				}
				out.Certificates = append(out.Certificates, issued{a, path})
				if !jsonOutput(cmd) {
					fmt.Fprintln(cmd.OutOrStdout(), path)
				}
			}
			if jsonOutput(cmd) {
				return printJSON(cmd, out)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "pki", "where the CA and certificates are kept")
	return cmd
}

func cut(s string) (access.Role, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '/' {
			return access.Role(s[:i]), s[i+1:], i > 0 && i < len(s)-1
		}
	}
	return "", "", false
}

// tokenCmd makes a bearer token and prints the line to configure it.
func tokenCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "token ROLE ID",
		Short: "Make a random bearer token and the config line that grants it a role",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			b := make([]byte, 32)
			if _, err := rand.Read(b); err != nil {
				return err
			}
			tok := hex.EncodeToString(b)
			config := fmt.Sprintf("- {sha256: %s, role: %s, id: %s}", access.TokenHash(tok), args[0], args[1])
			if jsonOutput(cmd) {
				return printJSON(cmd, map[string]string{"token": tok, "sha256": access.TokenHash(tok), "role": args[0], "id": args[1], "config": config})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "token (give to the caller, keep nowhere else): %s\nconfig:  %s\n", tok, config)
			return nil
		},
	}
}
