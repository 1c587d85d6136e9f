// Command evidencectl is the command line of the evidence ledger for
// platforms, judges, lawyers and court admins: make SM2 keys, fingerprint
// files, file them with a court and verify them (receipts are checked
// against the court keys of a trust file), read proofs and heads, and manage
// a court's nodes and platforms. `evidencectl demo` walks through it all
// offline, in memory.
//
// Exit codes: 0 success; 1 a check failed or an operation errored; 2 the
// command line was wrong; 3 verify found no such evidence; 8 alarms found
// an active equivocation alarm. verify and cert verify exit with their
// verdict: 0 VALID, 3 NOT RECORDED, 4 TAMPERED, 5 UNTRUSTED, 6 INVALID
// PROOF, 7 MALFORMED.
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
	if err := newRoot().Execute(); err != nil {
		var verdict *verdictError
		if errors.As(err, &verdict) { // the command printed it
			os.Exit(verdict.exitCode())
		}
		if !errors.Is(err, errNotRecorded) { // verify already said so
			fmt.Fprintln(os.Stderr, "evidencectl:", err)
		}
		switch {
		case errors.Is(err, errUsage):
			os.Exit(2)
		case errors.Is(err, errNotRecorded):
			os.Exit(3)
		case errors.Is(err, errAlarmActive):
			os.Exit(8)
		}
		os.Exit(1)
	}
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "evidencectl",
		Short:         "File and verify evidence fingerprints in the internet courts' ledger",
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
