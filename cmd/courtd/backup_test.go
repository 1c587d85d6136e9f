package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/courtledger/courtledger/api/client"
	pb "github.com/courtledger/courtledger/api/gen/courtledger/v1"
	"github.com/courtledger/courtledger/court/access"
	"github.com/courtledger/courtledger/crypto/sm3"
	"github.com/courtledger/courtledger/evidence"
)

// courtClient is a failover client of ec's nodes at endpoints, as role.
func courtClient(t *testing.T, ec *e2eCourt, role access.Role, endpoints ...string) *client.Client {
	t.Helper()
	dial, err := client.DialTLS(client.TLSFiles{CAFile: filepath.Join(ec.pki, "ca.pem"), CertFile: ec.certOf[role]})
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(client.Config{Endpoints: endpoints, Court: ec.verifier, Platform: "esign.example", Key: ec.platform,
		Attempts: 60, DialOptions: []grpc.DialOption{dial}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// platformClient registers the platform at ec (waiting until the court
// takes it) and returns its failover client of all of ec's nodes.
func (ec *e2eCourt) platformClient(t *testing.T) *client.Client {
	t.Helper()
	admin := ec.dialAs(t, access.RoleAdmin, ec.nodes[0].grpc)
	waitUntil(t, "the platform registered", func() bool {
		_, err := pb.NewAdminServiceClient(admin).RegisterPlatform(context.Background(), &pb.RegisterPlatformRequest{
			PlatformId: "esign.example", PublicKeyPem: string(ec.platform.Public().MarshalPEM())})
		return err == nil || strings.Contains(err.Error(), "already")
	})
	var eps []string
	for _, n := range ec.nodes {
		eps = append(eps, n.grpc)
	}
	return courtClient(t, ec, access.RolePlatform, eps...)
}

// fileN files n filings named prefix-i and returns their receipts.
func fileN(t *testing.T, c *client.Client, prefix string, n int) map[string]*evidence.Receipt {
	t.Helper()
	out := map[string]*evidence.Receipt{}
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("%s-%d", prefix, i)
		s, err := c.Sign(evidence.Submission{RequestID: name, Fingerprint: sm3.Sum([]byte(name)), Category: evidence.CategoryContract, Title: name})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		r, _, err := c.Submit(ctx, s)
		cancel()
		if err != nil {
			t.Fatalf("file %s: %v", name, err)
		}
		out[name] = r
	}
	return out
}

// holdsOnce checks that the node at addr holds each filing once, at the
// index its receipt gave.
func holdsOnce(t *testing.T, ec *e2eCourt, addr string, filed map[string]*evidence.Receipt) {
	t.Helper()
	c := courtClient(t, ec, access.RoleJudge, addr)
	for name, r := range filed {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		got, _, err := c.Verify(ctx, sm3.Sum([]byte(name)))
		cancel()
		if err != nil || len(got) != 1 || got[0].Entry.Index != r.Entry.Index {
			t.Fatalf("%s at %s: %d records, %v; acknowledged once at index %d", name, addr, len(got), err, r.Entry.Index)
		}
	}
}

func stopAll(ec *e2eCourt) {
	for _, n := range ec.nodes {
		if n.proc.cmd.ProcessState == nil {
			n.proc.cmd.Process.Signal(syscall.SIGTERM)
			n.proc.cmd.Wait()
		}
	}
}

// A hot backup of a running node, taken with courtd backup while filings
// go on, verifies offline and seeds a new court of one node that holds
// every filing acknowledged before it; a backup of another court, or a
// damaged one, is refused.
func TestBackupAndRestoreCommands(t *testing.T) {
	courtd, _ := binaries(t)
	ec := startCourtProcesses(t)
	c := ec.platformClient(t)
	before := fileN(t, c, "before", 20)

	// A follower's backup holds what it has applied: wait until that is
	// every filing acknowledged so far.
	follower := pb.NewAdminServiceClient(ec.dialAs(t, access.RoleAdmin, ec.nodes[1].grpc))
	waitUntil(t, "hz-2 to apply the 20 filings", func() bool {
		st, err := follower.GetClusterStatus(context.Background(), &pb.GetClusterStatusRequest{})
		return err == nil && st.Size >= 20
	})
	out := filepath.Join(ec.dir, "hz.backup")
	args := []string{"backup", "--server", ec.nodes[1].grpc, "--out", out, "--ca-file", filepath.Join(ec.pki, "ca.pem"), "--cert", ec.certOf[access.RoleAdmin]}
	if o, code := run(t, nil, courtd, args...); code != 0 {
		t.Fatalf("courtd backup: exit %d\n%s", code, o)
	}
	fileN(t, c, "after", 3) // the court still files
	if o, code := run(t, nil, courtd, args...); code == 0 || !strings.Contains(o, "exists") {
		t.Fatalf("a second backup onto the same file: exit %d\n%s", code, o)
	}
	if o, code := run(t, nil, courtd, "backup", "--verify", out, "--config", ec.nodes[0].config); code != 0 || !strings.Contains(o, "a sound backup") {
		t.Fatalf("courtd backup --verify: exit %d\n%s", code, o)
	}
	var m struct {
		Size uint64 `json:"tree_size"`
	}
	raw, _ := os.ReadFile(out + ".json")
	if err := json.Unmarshal(raw, &m); err != nil || m.Size < 20 {
		t.Fatalf("manifest: %v, size %d, want at least the 20 filed before\n%s", err, m.Size, raw)
	}

	// A damaged copy is refused by --verify and by restore.
	bad := filepath.Join(ec.dir, "bad.backup")
	b, _ := os.ReadFile(out)
	b[len(b)/2] ^= 1
	os.WriteFile(bad, b, 0o600)
	os.WriteFile(bad+".json", raw, 0o600)
	if o, code := run(t, nil, courtd, "backup", "--verify", bad, "--config", ec.nodes[0].config); code == 0 || !strings.Contains(o, "damaged") {
		t.Fatalf("--verify of a damaged backup: exit %d\n%s", code, o)
	}

	// The court is lost; hz-1 is rebuilt on a new data directory from the
	// backup, a court of one node.
	stopAll(ec)
	n := ec.nodes[0]
	cfg, _ := os.ReadFile(n.config)
	newDir := filepath.Join(ec.dir, "restored-hz-1")
	restored := filepath.Join(ec.dir, "restored-hz-1.yaml")
	os.WriteFile(restored, []byte(strings.Replace(string(cfg), "data_dir: "+filepath.Join(ec.dir, n.id), "data_dir: "+newDir, 1)), 0o644)
	if o, code := run(t, nil, courtd, "restore", "--from", bad, "--config", restored); code == 0 {
		t.Fatalf("restore of a damaged backup: exit 0\n%s", o)
	}
	if _, err := os.Stat(filepath.Join(newDir, "ledger.db")); err == nil {
		t.Fatal("a refused restore wrote a ledger")
	}
	if o, code := run(t, nil, courtd, "restore", "--from", out, "--config", restored); code != 0 {
		t.Fatalf("courtd restore: exit %d\n%s", code, o)
	}
	if o, code := run(t, nil, courtd, "restore", "--from", out, "--config", restored); code == 0 {
		t.Fatalf("a second restore into a directory with Raft state: exit 0\n%s", o)
	}
	n.proc = startProc(t, courtd, "run", "--config", restored)
	ec.waitReady(t, n)
	holdsOnce(t, ec, n.grpc, before)
	after := fileN(t, courtClient(t, ec, access.RolePlatform, n.grpc), "restored", 2)
	holdsOnce(t, ec, n.grpc, after)
}

// A court that lost two of its three nodes for good is recovered from the
// survivor with courtd recover: every filing the survivor held is there
// once, and the court files again.
func TestRecoverCommandAfterQuorumLoss(t *testing.T) {
	courtd, _ := binaries(t)
	ec := startCourtProcesses(t)
	filed := fileN(t, ec.platformClient(t), "acked", 25)
	survivor := ec.nodes[2]
	holdsOnce(t, ec, survivor.grpc, filed) // what the survivor held
	stopAll(ec)
	for _, n := range ec.nodes[:2] {
		if err := os.RemoveAll(filepath.Join(ec.dir, n.id)); err != nil {
			t.Fatal(err)
		}
	}
	// Started as it is, the survivor cannot elect itself: no majority.
	if o, code := run(t, nil, courtd, "recover", "--config", survivor.config); code != 0 {
		t.Fatalf("courtd recover: exit %d\n%s", code, o)
	}
	survivor.proc = startProc(t, courtd, "run", "--config", survivor.config)
	ec.waitReady(t, survivor)
	holdsOnce(t, ec, survivor.grpc, filed)
	more := fileN(t, courtClient(t, ec, access.RolePlatform, survivor.grpc), "recovered", 2)
	holdsOnce(t, ec, survivor.grpc, more)
}
