package consensus

import (
	"context"
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// histogram gathers one histogram of the ledger's collectors by name.
func histogram(t *testing.T, l *Ledger, name string) *dto.Histogram {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(l.Collectors()...)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name {
			return f.GetMetric()[0].GetHistogram()
		}
	}
	t.Fatalf("no metric %s among the ledger's collectors", name)
	return nil
}

// Every committed entry is counted once in the batch size histogram, with
// one commit latency observation per batch; every node times its applies.
func TestLedgerMetrics(t *testing.T) {
	c := inmemCluster(t, 3)
	c.registerPlatform("esign.example")
	leader := c.waitLeader()
	before := histogram(t, leader, "courtledger_batch_entries").GetSampleSum()
	var subs []SignedSubmission
	for i := 0; i < 20; i++ {
		subs = append(subs, c.submission("esign.example", fmt.Sprintf("req-%d", i), []byte{byte(i)}))
	}
	results, err := leader.Submit(context.Background(), subs)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range results {
		if r.Err != nil {
			t.Fatalf("submission %d: %v", i, r.Err)
		}
	}
	c.waitConverged(20)

	entries := histogram(t, leader, "courtledger_batch_entries")
	if got := entries.GetSampleSum() - before; got != 20 {
		t.Errorf("batch size histogram counts %v entries for 20 submissions", got)
	}
	commit := histogram(t, leader, "courtledger_batch_commit_seconds")
	if commit.GetSampleCount() != entries.GetSampleCount() || commit.GetSampleCount() == 0 {
		t.Errorf("commit latency has %d observations, batch size %d: want one per batch", commit.GetSampleCount(), entries.GetSampleCount())
	}
	for _, l := range c.all() {
		if histogram(t, l, "courtledger_fsm_apply_seconds").GetSampleCount() == 0 {
			t.Errorf("node %s applied batches without timing them", l.cfg.NodeID)
		}
	}
}
