// Package clusterstatus is the table of a court's nodes that `evidencectl
// cluster status` and `courtd status` print, like `etcdctl endpoint status
// -w table`: one node lists the court's members (AdminService
// GetClusterStatus), then every member is asked for its own status, in
// parallel, so that each row is what that node says of itself (role, term,
// applied and commit index, log size, ledger file size, age of the newest
// signed head, disk free, ready or why not), or why it could not be asked.
package clusterstatus

import (
	"context"
	"fmt"
	"io"
	"sync"
	"text/tabwriter"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	pb "github.com/courtledger/courtledger/api/gen/courtledger/v1"
)

// Node is one node's row: what the node says of itself, or why it could
// not be asked.
type Node struct {
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

// View is the court's nodes as the table shows them.
type View struct {
	Court  string `json:"court"`
	Leader string `json:"leader"`
	Asked  string `json:"asked"` // the node that listed the members
	Nodes  []Node `json:"nodes"`
}

// Ask asks every member of the court listed in st (the answer of one of
// its nodes) for its own status, each within timeout, dialling with dial.
// The node that listed them answers from st, not a second call.
func Ask(ctx context.Context, st *pb.GetClusterStatusResponse, dial []grpc.DialOption, timeout time.Duration) View {
	if ctx == nil {
		ctx = context.Background()
	}
	rows := make([]Node, len(st.Nodes))
	var wg sync.WaitGroup
	for i, nd := range st.Nodes {
		rows[i] = Node{Node: nd.NodeId, Endpoint: nd.ApiAddress, HeadAgeSeconds: -1, DiskFreeBytes: -1}
		switch {
		case nd.NodeId == st.NodeId:
			rows[i].fill(st)
		case nd.ApiAddress == "":
			rows[i].Error = "no API address known for this node"
		default:
			wg.Add(1)
			go func(row *Node) {
				defer wg.Done()
				own, err := Get(ctx, row.Endpoint, dial, timeout)
				if err != nil {
					row.Error = "unreachable: " + status.Convert(err).Message()
					return
				}
				row.fill(own)
			}(&rows[i])
		}
	}
	wg.Wait()
	return View{Court: st.Court, Leader: st.LeaderId, Asked: st.NodeId, Nodes: rows}
}

// Get asks the node at endpoint for its status (and the court's members),
// within timeout.
func Get(ctx context.Context, endpoint string, dial []grpc.DialOption, timeout time.Duration) (*pb.GetClusterStatusResponse, error) {
	cc, err := grpc.NewClient(endpoint, dial...)
	if err != nil {
		return nil, err
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return pb.NewAdminServiceClient(cc).GetClusterStatus(ctx, &pb.GetClusterStatusRequest{})
}

func (n *Node) fill(st *pb.GetClusterStatusResponse) {
	n.Role, n.Term, n.AppliedIndex, n.CommitIndex, n.Size = st.State, st.Term, st.AppliedIndex, st.CommitIndex, st.Size
	n.LedgerBytes, n.HeadAgeSeconds, n.DiskFreeBytes = st.LedgerBytes, st.HeadAgeSeconds, st.DiskFreeBytes
	n.Ready, n.Health, n.Reason = st.Ready, st.Health, st.Reason
}

// Print writes v as a table, a row per node.
func Print(w io.Writer, v View) error {
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
