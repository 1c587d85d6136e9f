// Command evidencectl is the command line of the evidence ledger for
// platforms, judges, lawyers and court admins: make SM2 keys, fingerprint
// files, file them with a court and verify them (receipts are checked
// against the court keys of a trust file), read proofs and heads, and manage
// a court's nodes and platforms. `evidencectl demo` walks through it all
// offline, in memory.
//
// Output: text for people by default; --json, on every command, prints one
// JSON document instead (output.go). Exit codes (docs/api.md,
// "evidencectl"): 0 success; 1 a check failed or an operation errored; 2
// the command line was wrong; 3 verify found no such evidence; 8 alarms
// found an active equivocation alarm; 9 submit filed evidence whose
// receipt did not verify against the trust file. verify and cert verify
// exit with their verdict: 0 VALID, 3 NOT RECORDED, 4 TAMPERED, 5
// UNTRUSTED, 6 INVALID PROOF, 7 MALFORMED. `go run` reports every non-zero
// exit as 1: build the binary to see these.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// errUsage marks command-line mistakes, which exit with 2.
var errUsage = errors.New("usage")

func main() {
	err := newRoot().Execute()
	code, say := exitCode(err)
	if say {
		fmt.Fprintln(os.Stderr, "evidencectl:", err)
		if code == exitUsage {
			fmt.Fprintln(os.Stderr, "(see evidencectl --help, or COMMAND --help)")
		}
	}
	os.Exit(code)
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "evidencectl",
		Short: "File and verify evidence fingerprints in the internet courts' ledger",
		Long: `evidencectl files evidence fingerprints with a court and verifies them:
receipts, heads, proofs and certificates are checked against the keys of a
trust file, each against the key of the court that recorded it, at any court.

Every command prints text by default and one JSON document with --json.
Exit codes: 0 success; 1 an operation failed; 2 a wrong command line; 3
NOT RECORDED; 4 TAMPERED, 5 UNTRUSTED, 6 INVALID PROOF, 7 MALFORMED (verify,
cert verify); 8 an active alarm; 9 filed, but a receipt did not verify
against the trust file. 'go run' reports every non-zero exit as 1: use the
built binary (go build -o bin/ ./cmd/...) where the code matters.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().Bool("json", false, "print machine-readable JSON instead of text")
	root.AddCommand(keygenCmd(), fingerprintCmd(), demoCmd())
	root.AddCommand(remoteCmds()...)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return fmt.Errorf("%w: %w", errUsage, err) })
	return root
}

func jsonOutput(cmd *cobra.Command) bool {
	j, _ := cmd.Flags().GetBool("json")
	return j
}

func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return fmt.Errorf("%w: %s takes %d argument(s), got %d", errUsage, cmd.Name(), n, len(args))
		}
		return nil
	}
}
