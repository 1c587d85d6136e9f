package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/courtledger/courtledger/api/client"
	pb "github.com/courtledger/courtledger/api/gen/courtledger/v1"
)

// errAlarmActive makes `alarms` exit with 4: a court is under alarm.
var errAlarmActive = errors.New("equivocation alarm")

// alarmsCmd lists and clears equivocation alarms (docs/sync-protocol.md).
func alarmsCmd(r *remote) *cobra.Command {
	var history bool
	cmd := &cobra.Command{
		Use:   "alarms",
		Short: "List equivocation alarms raised on other courts, with the signed heads that prove them, and a corrupt ledger of the node asked",
		Long: `List the alarms this court raised on other courts that misbehaved: a head
that does not verify, a rewritten or forked history, or different histories
shown to different courts. Each alarm carries the two conflicting heads,
both signed by the court at fault. The node asked also lists an alarm on
its own ledger (ledger-corrupt) while a record it read did not match the
hashes that commit to it. Exit code 8 when an alarm is active.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			resp, err := call(r, func(ctx context.Context, c *client.Client) (*pb.ListAlarmsResponse, error) {
				return c.Admin().ListAlarms(ctx, &pb.ListAlarmsRequest{History: history})
			})
			if err != nil {
				return err
			}
			active := 0
			for _, a := range resp.Alarms {
				if a.ClearedAt == nil {
					active++
				}
			}
			if jsonOutput(cmd) {
				if err := printJSON(cmd.OutOrStdout(), resp); err != nil {
					return err
				}
			} else {
				w := cmd.OutOrStdout()
				if len(resp.Alarms) == 0 {
					fmt.Fprintln(w, "no alarms: every court this court follows has shown one consistent history")
				}
				for _, a := range resp.Alarms {
					if a.Kind == "ledger-corrupt" { // court.AlarmLedgerCorrupt
						// The answering node's own ledger, not another court.
						fmt.Fprintf(w, "%s  %s  ACTIVE (node %s serves nothing from its ledger until it is rebuilt)\n  raised %s\n  %s\n",
							a.Court, a.Kind, a.Source, a.RaisedAt.AsTime().Format(time.RFC3339), a.Detail)
						continue
					}
					state := "ACTIVE (mirroring stopped)"
					if a.ClearedAt != nil {
						state = fmt.Sprintf("cleared %s by %s", a.ClearedAt.AsTime().Format(time.RFC3339), a.ClearedBy)
					}
					fmt.Fprintf(w, "%s  %s  %s\n  raised %s, source %s\n  %s\n", a.Court, a.Kind, state,
						a.RaisedAt.AsTime().Format(time.RFC3339), a.Source, a.Detail)
					fmt.Fprintf(w, "  head held:\n%s\n  conflicting head:\n%s\n", indent(a.HeldNote), indent(a.ConflictingNote))
				}
			}
			if active > 0 {
				return fmt.Errorf("%w: %d active", errAlarmActive, active)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&history, "history", false, "include cleared alarms")
	var operator string
	clear := &cobra.Command{
		Use:   "clear COURT",
		Short: "Lift the alarm on a court after review; mirroring it resumes",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return rawCall(cmd, r, func(ctx context.Context, c *client.Client) (*pb.ClearAlarmResponse, error) {
				return c.Admin().ClearAlarm(ctx, &pb.ClearAlarmRequest{Court: args[0], Operator: operator})
			})
		},
	}
	clear.Flags().StringVar(&operator, "operator", "", "who reviewed the alarm (recorded)")
	clear.MarkFlagRequired("operator")
	cmd.AddCommand(clear)
	return cmd
}

// syncCmd reports what the court mirrors of the others.
func syncCmd(r *remote) *cobra.Command {
	cmd := &cobra.Command{Use: "sync", Short: "Cross-court sync"}
	cmd.AddCommand(&cobra.Command{
		Use:   "status",
		Short: "What this court mirrors of each other court, and how fresh",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			resp, err := call(r, func(ctx context.Context, c *client.Client) (*pb.GetSyncStatusResponse, error) {
				return c.Admin().GetSyncStatus(ctx, &pb.GetSyncStatusRequest{})
			})
			if err != nil {
				return err
			}
			if jsonOutput(cmd) {
				return printJSON(cmd.OutOrStdout(), resp)
			}
			w := cmd.OutOrStdout()
			if len(resp.Mirrors) == 0 {
				fmt.Fprintln(w, "this court mirrors no other court (none configured)")
			}
			for _, m := range resp.Mirrors {
				fresh := "never checked"
				if m.CheckedAt != nil {
					fresh = fmt.Sprintf("current as of %s (%.1fs ago)", m.CheckedAt.AsTime().Format(time.RFC3339), m.StalenessSeconds)
				}
				fmt.Fprintf(w, "%-40s %8d entries  %s", m.Court, m.Size, fresh)
				if m.Alarmed {
					fmt.Fprint(w, "  ALARM")
				}
				if m.LastError != "" {
					fmt.Fprintf(w, "\n  last error: %s", m.LastError)
				}
				fmt.Fprintln(w)
			}
			return nil
		},
	})
	return cmd
}

func indent(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		b.WriteString("    " + line + "\n")
	}
	return b.String()
}
