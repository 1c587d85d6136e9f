package main

import (
	"context"
	"time"

	"github.com/spf13/cobra"

	"github.com/courtledger/courtledger/api/client"
	pb "github.com/courtledger/courtledger/api/gen/courtledger/v1"
	"github.com/courtledger/courtledger/internal/clusterstatus"
)

func clusterCmd(r *remote) *cobra.Command {
	cmd := &cobra.Command{Use: "cluster", Short: "The court's nodes"}
	var perNode time.Duration
	statusCmd := &cobra.Command{
		Use:   "status",
		Short: "Every node of the court in one table, each as it sees itself",
		Long: `status asks one node of --server for the court's members, then every member
for its own status, in parallel: role, term, applied and commit index, log
size, ledger file size, age of the newest signed head, disk free, and
whether it is ready (or why not). A node that cannot be reached is a row
saying why.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := call(r, func(ctx context.Context, c *client.Client) (*pb.GetClusterStatusResponse, error) {
				return c.Admin().GetClusterStatus(ctx, &pb.GetClusterStatusRequest{})
			})
			if err != nil {
				return err
			}
			dial, err := r.creds.dialOptions()
			if err != nil {
				return err
			}
			v := clusterstatus.Ask(cmd.Context(), st, dial, perNode)
			if jsonOutput(cmd) {
				return printJSON(cmd.OutOrStdout(), v)
			}
			return clusterstatus.Print(cmd.OutOrStdout(), v)
		},
	}
	statusCmd.Flags().DurationVar(&perNode, "node-timeout", 3*time.Second, "how long to wait for each node's answer")
	cmd.AddCommand(statusCmd)
	return cmd
}
