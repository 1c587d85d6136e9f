package main

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// TestFloodAsDeployed starts three courtd processes with TLS and the
// default admission bound, sends 256 concurrent SubmitBatch calls of 64
// entries at the leader through api/client, and checks the contract:
// every call is acknowledged or refused with ResourceExhausted and a retry
// delay, none fails otherwise, the leader keeps its place and term, and
// the ledger grows by exactly what was acknowledged. The courtd processes
// are built without the race detector, so -race slows only the clients.
func TestFloodAsDeployed(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three courtd processes; skipped under -short")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	bin, err := buildCourtd(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	opt := floodOptions{procs: procOptions{on: true, bin: bin, endpoints: "leader", perConn: 16}, calls: 256, batch: 64, waves: 1}
	fr, err := runFlood(ctx, filepath.Join(dir, "court"), opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("acknowledged %d calls (%d entries), refused %d (delay %.0f-%.0f ms), failed %d, term %d→%d, grew %d, %.1f s",
		fr.Acked, fr.AckedEntries, fr.Refused, fr.MinDelayMs, fr.MaxDelayMs, fr.Failed, fr.TermBefore, fr.TermAfter, fr.Grew, fr.Seconds)
	for _, p := range fr.Problems {
		t.Errorf("problem: %s", p)
	}
	for _, e := range fr.ErrorSamples {
		t.Logf("error seen: %s", e)
	}
	if fr.Acked+fr.Refused != opt.calls || fr.Failed != 0 || fr.RefusedNoWait != 0 {
		t.Errorf("%d calls: %d acknowledged + %d refused with a delay, %d refused without, %d failed", opt.calls, fr.Acked, fr.Refused, fr.RefusedNoWait, fr.Failed)
	}
	if fr.Refused == 0 {
		t.Errorf("16,384 submissions outstanding against a bound of 4,096, and nothing was refused")
	}
	if fr.TermAfter != fr.TermBefore || fr.LeaderAfter != fr.LeaderBefore || fr.StepDowns != 0 {
		t.Errorf("leader %s term %d → %s term %d, %d step-downs logged", fr.LeaderBefore, fr.TermBefore, fr.LeaderAfter, fr.TermAfter, fr.StepDowns)
	}
	if fr.Grew != uint64(fr.AckedEntries) || fr.AckedEntries != fr.Acked*opt.batch || fr.Duplicates != 0 {
		t.Errorf("ledger grew by %d; %d entries of %d calls acknowledged (%d duplicates)", fr.Grew, fr.AckedEntries, fr.Acked, fr.Duplicates)
	}
}
