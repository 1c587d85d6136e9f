// Command evidencectl is the command line of the evidence ledger for
// platforms, judges and lawyers: make SM2 keys, fingerprint files, and (until
// the court daemon exists) run a local walkthrough of filing and verifying.
//
// Exit codes: 0 success; 1 a check failed or an operation errored; 2 the
// command line was wrong.
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
		fmt.Fprintln(os.Stderr, "evidencectl:", err)
		if errors.Is(err, errUsage) {
			os.Exit(2)
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
