package consensus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"golang.org/x/mod/sumdb/note"
)

// backupTo writes a backup of l to a file in dir and returns its path and
// manifest.
func backupTo(t *testing.T, l *Ledger, dir, name string) (string, BackupManifest) {
	t.Helper()
	path := filepath.Join(dir, name)
	var buf bytes.Buffer
	m, err := l.Backup(context.Background(), &buf)
	if err != nil {
		t.Fatalf("backup: %v", err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, m
}

// TestBackupUnderLoadRestores takes a backup of a live court while a writer
// keeps submitting, verifies it, restores it into a fresh directory and
// starts that as a one-node court: it holds every entry acknowledged up to
// the backup's head, and takes new submissions.
func TestBackupUnderLoadRestores(t *testing.T) {
	c := inmemCluster(t, 3)
	c.registerPlatform("esign.example")
	leader := c.waitLeader()

	var (
		mu    sync.Mutex
		acked = map[uint64]string{} // index -> evidence ID
		werr  error
		stop  = make(chan struct{})
		done  = make(chan struct{})
	)
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			res, err := leader.Submit(ctx, []SignedSubmission{c.submission("esign.example", fmt.Sprintf("req-%d", i), []byte(fmt.Sprint(i)))})
			cancel()
			mu.Lock()
			if err == nil && res[0].Err != nil {
				err = res[0].Err
			}
			if err != nil {
				werr = err
				mu.Unlock()
				return
			}
			acked[res[0].Receipt.Entry.Index] = res[0].Receipt.Entry.EvidenceID
			mu.Unlock()
		}
	}()
	ackedNow := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
	waitFor(t, "20 acknowledged submissions", func() (bool, string) { return ackedNow() >= 20, fmt.Sprint(ackedNow()) })
	dir := t.TempDir()
	path, m := backupTo(t, leader, dir, "court.backup")
	before := ackedNow()
	waitFor(t, "writes acknowledged after the backup", func() (bool, string) { return ackedNow() >= before+10, fmt.Sprint(ackedNow()) })
	close(stop)
	<-done
	if werr != nil {
		t.Fatalf("a write failed during the backup: %v", werr)
	}
	if m.Size < 20 {
		t.Fatalf("backup head at size %d, want at least the 20 entries acknowledged before it", m.Size)
	}

	keys := []note.Verifier{c.signer.Verifier()}
	if err := VerifyBackup(path, m, keys); err != nil {
		t.Fatalf("verify: %v", err)
	}
	// The manifest survives its encoding.
	b, err := MarshalBackupManifest(m)
	if err != nil {
		t.Fatal(err)
	}
	if m2, err := ParseBackupManifest(b); err != nil || m2 != m {
		t.Fatalf("manifest round trip: %+v, %v", m2, err)
	}

	ndir := filepath.Join(t.TempDir(), "restored")
	if err := RestoreBackup(RestoreConfig{From: path, Manifest: m, CourtKeys: keys, Dir: ndir, Self: Server{ID: "new0", Address: "new0"}}); err != nil {
		t.Fatalf("restore: %v", err)
	}
	addr, tr := raft.NewInmemTransport("new0")
	l, err := Open(Config{NodeID: "new0", Court: testCourt, Dir: ndir, Transport: tr, Signer: c.signer, Fast: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatalf("open restored node: %v", err)
	}
	defer l.Close()
	_ = addr
	waitFor(t, "restored node leads", func() (bool, string) { return l.IsLeader(), "" })
	if got := l.Size(); got < m.Size {
		t.Fatalf("restored ledger has %d entries, backup head %d", got, m.Size)
	}
	mu.Lock()
	for idx, id := range acked {
		if idx >= m.Size {
			continue
		}
		e, err := l.Entry(idx)
		if err != nil || e.EvidenceID != id {
			t.Fatalf("entry %d after restore: %v, %v; want evidence %s", idx, e, err, id)
		}
	}
	mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := l.Submit(ctx, []SignedSubmission{c.submission("esign.example", "after-restore", []byte("x"))})
	if err != nil || res[0].Err != nil {
		t.Fatalf("submit after restore: %v %v", err, res)
	}
	if res[0].Receipt.Entry.Index != l.Size()-1 || res[0].Receipt.Entry.Index < m.Size {
		t.Fatalf("new entry at %d, ledger size %d, backup %d", res[0].Receipt.Entry.Index, l.Size(), m.Size)
	}
}

// TestRestoreRefusals: a backup of another court, a damaged file, one older
// than the ledger in place, and a directory with Raft state are refused,
// and the directory is left as it was.
func TestRestoreRefusals(t *testing.T) {
	c := inmemCluster(t, 1)
	c.registerPlatform("esign.example")
	leader := c.waitLeader()
	submit := func(from, n int) {
		for i := from; i < from+n; i++ {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			res, err := leader.Submit(ctx, []SignedSubmission{c.submission("esign.example", fmt.Sprintf("r%d", i), []byte(fmt.Sprint(i)))})
			cancel()
			if err != nil || res[0].Err != nil {
				t.Fatalf("submit: %v %v", err, res)
			}
		}
	}
	submit(0, 3)
	dir := t.TempDir()
	oldPath, oldM := backupTo(t, leader, dir, "old.backup")
	submit(3, 3)
	newPath, newM := backupTo(t, leader, dir, "new.backup")
	keys := []note.Verifier{c.signer.Verifier()}
	self := Server{ID: "n", Address: "n"}

	// Another court: the manifest names another court (its SM3 is the file's).
	other := newM
	other.Court = "other-court"
	if err := RestoreBackup(RestoreConfig{From: newPath, Manifest: other, CourtKeys: keys, Dir: filepath.Join(dir, "a"), Self: self}); !errors.Is(err, ErrBackup) || !strings.Contains(err.Error(), "other-court") {
		t.Fatalf("backup of another court: %v", err)
	}
	// Tampered: one byte flipped.
	raw, _ := os.ReadFile(newPath)
	raw[len(raw)/2] ^= 1
	bad := filepath.Join(dir, "bad.backup")
	os.WriteFile(bad, raw, 0o600)
	if err := RestoreBackup(RestoreConfig{From: bad, Manifest: newM, CourtKeys: keys, Dir: filepath.Join(dir, "b"), Self: self}); !errors.Is(err, ErrBackup) || !strings.Contains(err.Error(), "SM3") {
		t.Fatalf("tampered backup: %v", err)
	}
	for _, d := range []string{"a", "b"} {
		if _, err := os.Stat(filepath.Join(dir, d)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("a refused restore created %s: %v", d, err)
		}
	}
	// Older than held: the new backup's ledger is in place (without Raft state).
	held := filepath.Join(dir, "held")
	os.MkdirAll(held, 0o700)
	os.WriteFile(filepath.Join(held, "ledger.db"), mustRead(t, newPath), 0o600)
	err := RestoreBackup(RestoreConfig{From: oldPath, Manifest: oldM, CourtKeys: keys, Dir: held, Self: self})
	if !errors.Is(err, ErrBackup) || !strings.Contains(err.Error(), "signed 6 entries, the backup only 3") {
		t.Fatalf("older backup: %v", err)
	}
	if !bytes.Equal(mustRead(t, filepath.Join(held, "ledger.db")), mustRead(t, newPath)) {
		t.Fatal("a refused restore changed the ledger in place")
	}
	// The same backup over it is fine as to history, but a directory of a
	// running node (Raft state) is refused.
	if err := RestoreBackup(RestoreConfig{From: newPath, Manifest: newM, CourtKeys: keys, Dir: c.dirs["node0"], Self: self}); !errors.Is(err, ErrBackup) || !strings.Contains(err.Error(), "Raft state") {
		t.Fatalf("directory with Raft state: %v", err)
	}
	// A head not signed by the court's key.
	other2 := inmemCluster(t, 1)
	if err := VerifyBackup(newPath, newM, []note.Verifier{other2.signer.Verifier()}); !errors.Is(err, ErrBackup) {
		t.Fatalf("head checked with another key: %v", err)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func FuzzParseBackupManifest(f *testing.F) {
	f.Add([]byte(`{"format":"courtledger-backup/1","court":"c1","sm3":"` + strings.Repeat("ab", 32) + `","bytes":4096,"tree_size":0,"applied_index":3,"head":""}`))
	f.Add([]byte(`{"format":"courtledger-backup/1","court":"c1","sm3":"` + strings.Repeat("ab", 32) + `","bytes":1,"tree_size":2,"applied_index":3,"head":"c1\n2\nAAAA\n\n— c1 x\n"}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"format":"courtledger-backup/1"} {}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseBackupManifest(b)
		if err != nil {
			if !errors.Is(err, ErrBackup) {
				t.Fatalf("error does not wrap ErrBackup: %v", err)
			}
			return
		}
		out, err := MarshalBackupManifest(m)
		if err != nil {
			t.Fatalf("accepted manifest does not encode: %v", err)
		}
		m2, err := ParseBackupManifest(out)
		if err != nil || m2 != m {
			t.Fatalf("re-encoded manifest: %+v, %v", m2, err)
		}
	})
}
