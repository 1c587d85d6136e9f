package main

import (
	"context"
	"fmt"
	"io"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	"github.com/courtledger/courtledger/api/client"
	pb "github.com/courtledger/courtledger/api/gen/courtledger/v1"
)

// nodeStatus is one node's row of `cluster status`: what the node says of
// itself, or why it could not be asked.
type nodeStatus struct {
	Node           string  `json:"node"`
	Endpoint       string  `json:"endpoint"`
	Role           string  `json:"role,omitempty"`
	Term           uint64  `json:"term"`
	AppliedIndex   uint64  `json:"applied_index"`
	CommitIndex    uint64  `json:"commit_index"`
	Size           uint64  `json:"size"`
	LedgerBytes    uint64  `json:"ledger_bytes"`
	HeadAgeSeconds float64 `json:"head_age_seconds"` // -1: no head
	DiskFreeBytes  int64   `json:"disk_free_bytes"`  // -1: unknown
	Ready          bool    `json:"ready"`
	Health         string  `json:"health,omitempty"`
	Reason         string  `json:"reason,omitempty"` // why not ready
	Error          string  `json:"error,omitempty"`  // why it could not be asked
}

// clusterView is the court's nodes as `cluster status` shows them.
type clusterView struct {
	Court  string       `json:"court"`
	Leader string       `json:"leader"`
	Asked  string       `json:"asked"` // the node that listed the members
	Nodes  []nodeStatus `json:"nodes"`
}

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
			v := clusterView{Court: st.Court, Leader: st.LeaderId, Asked: st.NodeId, Nodes: askNodes(cmd.Context(), st, dial, perNode)}
			if jsonOutput(cmd) {
				return printJSON(cmd.OutOrStdout(), v)
			}
			return printCluster(cmd.OutOrStdout(), v)
		},
	}
	statusCmd.Flags().DurationVar(&perNode, "node-timeout", 3*time.Second, "how long to wait for each node's answer")
	cmd.AddCommand(statusCmd)
	return cmd
}

// askNodes asks every member of the court listed in st for its own status.
// The node that listed them answers from st, not a second call.
func askNodes(ctx context.Context, st *pb.GetClusterStatusResponse, dial []grpc.DialOption, timeout time.Duration) []nodeStatus {
	if ctx == nil {
		ctx = context.Background()
	}
	rows := make([]nodeStatus, len(st.Nodes))
	var wg sync.WaitGroup
	for i, nd := range st.Nodes {
		rows[i] = nodeStatus{Node: nd.NodeId, Endpoint: nd.ApiAddress, HeadAgeSeconds: -1, DiskFreeBytes: -1}
		switch {
		case nd.NodeId == st.NodeId:
			rows[i].fill(st)
		case nd.ApiAddress == "":
			rows[i].Error = "no API address known for this node"
		default:
			wg.Add(1)
			go func(row *nodeStatus) {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(ctx, timeout)
				defer cancel()
				cc, err := grpc.NewClient(row.Endpoint, dial...)
				if err != nil {
					row.Error = err.Error()
					return
				}
				defer cc.Close()
				own, err := pb.NewAdminServiceClient(cc).GetClusterStatus(ctx, &pb.GetClusterStatusRequest{})
				if err != nil {
					row.Error = "unreachable: " + status.Convert(err).Message()
					return
				}
				row.fill(own)
			}(&rows[i])
		}
	}
	wg.Wait()
	return rows
}

func (n *nodeStatus) fill(st *pb.GetClusterStatusResponse) {
	n.Role, n.Term, n.AppliedIndex, n.CommitIndex, n.Size = st.State, st.Term, st.AppliedIndex, st.CommitIndex, st.Size
	n.LedgerBytes, n.HeadAgeSeconds, n.DiskFreeBytes = st.LedgerBytes, st.HeadAgeSeconds, st.DiskFreeBytes
	n.Ready, n.Health, n.Reason = st.Ready, st.Health, st.Reason
}

func printCluster(w io.Writer, v clusterView) error {
	fmt.Fprintf(w, "court %s, leader %s (members as node %s lists them)\n", v.Court, v.Leader, v.Asked)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tENDPOINT\tROLE\tTERM\tAPPLIED\tCOMMIT\tSIZE\tLEDGER\tHEAD AGE\tDISK FREE\tREADY")
	for _, n := range v.Nodes {
		if n.Error != "" {
			fmt.Fprintf(tw, "%s\t%s\t-\t-\t-\t-\t-\t-\t-\t-\t%s\n", n.Node, n.Endpoint, n.Error)
			continue
		}
		ready := "yes"
		if !n.Ready {
			ready = "NO: " + n.Reason
		}
		age := "-"
		if n.HeadAgeSeconds >= 0 {
			age = (time.Duration(n.HeadAgeSeconds * float64(time.Second))).Round(time.Second).String()
		}
		disk := "?"
		if n.DiskFreeBytes >= 0 {
			disk = sizeOf(uint64(n.DiskFreeBytes))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\n", n.Node, n.Endpoint, n.Role, n.Term,
			n.AppliedIndex, n.CommitIndex, n.Size, sizeOf(n.LedgerBytes), age, disk, ready)
	}
	return tw.Flush()
}

// sizeOf prints a byte count in binary units.
func sizeOf(b uint64) string {
	const unit = 1024
	if b < unit {
		return fmt.Sprintf("%d B", b)
	}
	div, exp := uint64(unit), 0
	for n := b / unit; n >= unit; n /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(b)/float64(div), "KMGTPE"[exp])
}
