package consensus

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/emmansun/gmsm/sm3"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/mod/sumdb/note"

	"github.com/courtledger/courtledger/crypto/checkpoint"
	"github.com/courtledger/courtledger/crypto/merkle"
	"github.com/courtledger/courtledger/evidence"
)

// BackupFormat names the manifest's format; a change of meaning gets a new
// name, so an old tool refuses a manifest it would misread.
const BackupFormat = "courtledger-backup/1"

// BackupManifest describes one backup file: a consistent copy of a node's
// ledger file. It travels beside the file (FILE.json) and in the trailer of
// the streamed backup.
type BackupManifest struct {
	Format  string `json:"format"`
	Court   string `json:"court"`
	SM3     string `json:"sm3"`           // hex SM3 of the file's bytes
	Bytes   int64  `json:"bytes"`         // length of the file
	Size    uint64 `json:"tree_size"`     // entries in the court's own log
	Applied uint64 `json:"applied_index"` // Raft index the copy is at
	Head    string `json:"head"`          // latest signed head in the copy; empty for an empty log
}

// ErrBackup is wrapped by every refusal of a backup file or manifest.
var ErrBackup = errors.New("consensus: backup")

// MarshalBackupManifest encodes m as indented JSON.
func MarshalBackupManifest(m BackupManifest) ([]byte, error) {
	if err := m.check(); err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// ParseBackupManifest decodes and checks a manifest. Unknown fields are an
// error: a manifest of a later format must not be half understood.
func ParseBackupManifest(b []byte) (BackupManifest, error) {
	var m BackupManifest
	if len(b) > 1<<20 {
		return m, fmt.Errorf("%w: manifest is %d bytes, at most 1 MiB", ErrBackup, len(b))
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return BackupManifest{}, fmt.Errorf("%w: manifest is not valid JSON: %v", ErrBackup, err)
	}
	if dec.More() {
		return BackupManifest{}, fmt.Errorf("%w: manifest has data after its JSON object", ErrBackup)
	}
	if err := m.check(); err != nil {
		return BackupManifest{}, err
	}
	return m, nil
}

func (m BackupManifest) check() error {
	switch {
	case m.Format != BackupFormat:
		return fmt.Errorf("%w: manifest format %q, this build reads %q", ErrBackup, m.Format, BackupFormat)
	case !evidence.ValidCourtID(m.Court):
		return fmt.Errorf("%w: manifest court %q is not a valid court ID", ErrBackup, m.Court)
	case len(m.SM3) != 64 || !isLowerHex(m.SM3):
		return fmt.Errorf("%w: manifest sm3 %q is not 64 lower-case hex digits", ErrBackup, m.SM3)
	case m.Bytes <= 0:
		return fmt.Errorf("%w: manifest bytes %d: a ledger file is never empty", ErrBackup, m.Bytes)
	}
	if m.Head == "" {
		if m.Size != 0 {
			return fmt.Errorf("%w: manifest has tree_size %d but no head", ErrBackup, m.Size)
		}
		return nil
	}
	h, err := checkpoint.ParseUnverified([]byte(m.Head))
	if err != nil {
		return fmt.Errorf("%w: manifest head: %v", ErrBackup, err)
	}
	if h.Origin != m.Court || h.Size != m.Size {
		return fmt.Errorf("%w: manifest head is of %q at size %d, manifest says %q at %d", ErrBackup, h.Origin, h.Size, m.Court, m.Size)
	}
	return nil
}

func isLowerHex(s string) bool {
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// Backup writes a consistent copy of the ledger file to w and returns its
// manifest. The copy is one bbolt read transaction (Tx.WriteTo): writes go
// on meanwhile, but pages they free are not reused until it ends, so the
// file may grow by what is written during a long backup.
func (l *Ledger) Backup(ctx context.Context, w io.Writer) (BackupManifest, error) {
	return l.fsm.backup(ctx, w)
}

func (f *fsm) backup(ctx context.Context, w io.Writer) (BackupManifest, error) {
	f.mu.RLock()
	if f.db == nil {
		f.mu.RUnlock()
		return BackupManifest{}, fmt.Errorf("backup: ledger %s is closed", f.path)
	}
	tx, err := f.db.Begin(false)
	f.mu.RUnlock()
	if err != nil {
		return BackupManifest{}, fmt.Errorf("backup: %w", err)
	}
	defer tx.Rollback()
	m := BackupManifest{Format: BackupFormat, Court: f.court}
	meta := tx.Bucket(bucketMeta)
	m.Applied = getU64(meta.Get(keyApplied))
	if k, v := tx.Bucket(bucketHeads).Cursor().Last(); k != nil {
		m.Size, m.Head = getU64(k), string(v)
	}
	h := sm3.New()
	n, err := tx.WriteTo(io.MultiWriter(ctxWriter{ctx, w}, h))
	if err != nil {
		return BackupManifest{}, fmt.Errorf("backup: write copy of %s: %w", f.path, err)
	}
	m.Bytes, m.SM3 = n, hex.EncodeToString(h.Sum(nil))
	return m, nil
}

// ctxWriter stops a copy when its context ends: the read transaction it
// holds keeps the ledger from reusing pages.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

// CheckBackupBytes checks that the file at path has the length and SM3
// the manifest gives: what a client checks as soon as a streamed backup
// is written, before it has the court's keys.
func CheckBackupBytes(path string, m BackupManifest) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBackup, err)
	}
	h := sm3.New()
	n, err := io.Copy(h, f)
	f.Close()
	if err != nil {
		return fmt.Errorf("%w: read %s: %v", ErrBackup, path, err)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); n != m.Bytes || sum != m.SM3 {
		return fmt.Errorf("%w: %s is %d bytes with SM3 %s, the manifest says %d bytes with SM3 %s: the file is damaged or not this backup",
			ErrBackup, path, n, sum, m.Bytes, m.SM3)
	}
	return nil
}

// VerifyBackup checks, offline, that the file at path is the backup m
// describes: its length and SM3, a ledger of m.Court that passes the
// ledger's page check, whose tree at the head's size has the head's root,
// and whose head is signed by one of the court's keys.
func VerifyBackup(path string, m BackupManifest, courtKeys []note.Verifier) error {
	if err := m.check(); err != nil {
		return err
	}
	if len(courtKeys) == 0 {
		return fmt.Errorf("%w: no key of court %q given to check the head's signature", ErrBackup, m.Court)
	}
	if err := CheckBackupBytes(path, m); err != nil {
		return err
	}
	if err := inspectLedger(path, m.Court); err != nil {
		return fmt.Errorf("%w: %s is not a sound ledger of court %q: %v", ErrBackup, path, m.Court, err)
	}
	db, err := bolt.Open(path, 0o400, &bolt.Options{ReadOnly: true, Timeout: boltOptions().Timeout})
	if err != nil {
		return fmt.Errorf("%w: open %s: %v", ErrBackup, path, err)
	}
	defer db.Close()
	return db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if c := string(meta.Get(keyCourt)); c != m.Court {
			return fmt.Errorf("%w: %s is a ledger of court %q, the manifest says %q", ErrBackup, path, c, m.Court)
		}
		if a := getU64(meta.Get(keyApplied)); a != m.Applied {
			return fmt.Errorf("%w: %s is at Raft index %d, the manifest says %d", ErrBackup, path, a, m.Applied)
		}
		k, v := tx.Bucket(bucketHeads).Cursor().Last()
		if k == nil {
			if m.Head != "" {
				return fmt.Errorf("%w: %s holds no signed head, the manifest names one", ErrBackup, path)
			}
			return nil
		}
		if string(v) != m.Head {
			return fmt.Errorf("%w: the latest head in %s is not the manifest's", ErrBackup, path)
		}
		head, _, err := checkpoint.OpenAny(v, courtKeys)
		if err != nil {
			return fmt.Errorf("%w: head in %s: %v (give the court's public key, or every key it had)", ErrBackup, path, err)
		}
		if size := getU64(meta.Get(keySize)); size < head.Size {
			return fmt.Errorf("%w: %s holds %d entries, fewer than its head's %d", ErrBackup, path, size, head.Size)
		}
		rng, err := merkle.LoadRange(context.Background(), bucketHashes{tx.Bucket(bucketNodes)}, head.Size)
		if err != nil {
			return fmt.Errorf("%w: tree of %s: %v", ErrBackup, path, err)
		}
		if !bytes.Equal(rng.Root(), head.Root) {
			return fmt.Errorf("%w: the tree in %s at size %d does not have its signed head's root", ErrBackup, path, head.Size)
		}
		return nil
	})
}

// RestoreConfig says what RestoreBackup restores where.
type RestoreConfig struct {
	From      string         // the backup file
	Manifest  BackupManifest // its manifest
	CourtKeys []note.Verifier
	Dir       string // the node's data directory
	// Self is the node the restored directory belongs to; it becomes the
	// only voter of the court seeded from the backup. Others join with
	// AddVoter and catch up from it by a Raft snapshot.
	Self Server
}

// RestoreBackup seeds a node's data directory from a verified backup. It
// refuses a backup of another court, a damaged file, and a directory whose
// ledger has signed more than the backup or a different history; a
// directory with Raft state is refused too: such a node catches up from its
// court instead. The ledger is written as the file and as a Raft snapshot
// at the backup's index whose configuration is Self alone, so that the
// node, started, is a one-node court holding the backup.
func RestoreBackup(cfg RestoreConfig) error {
	m := cfg.Manifest
	if cfg.Dir == "" || cfg.Self.ID == "" || cfg.Self.Address == "" {
		return fmt.Errorf("%w: restore needs a data directory and the node's ID and Raft address", ErrBackup)
	}
	if err := VerifyBackup(cfg.From, m, cfg.CourtKeys); err != nil {
		return err
	}
	raftPath := filepath.Join(cfg.Dir, "raft.db")
	if _, err := os.Stat(raftPath); err == nil {
		return fmt.Errorf("%w: %s holds Raft state: a node of a running court catches up from its leader (start it, or remove it and add it again); restore seeds a new court into a directory without raft.db", ErrBackup, cfg.Dir)
	}
	ledgerPath := filepath.Join(cfg.Dir, "ledger.db")
	if _, err := os.Stat(ledgerPath); err == nil {
		if err := checkHeldLedger(ledgerPath, cfg.From, m); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return fmt.Errorf("%w: %v", ErrBackup, err)
	}
	if err := copyFileSynced(cfg.From, ledgerPath); err != nil {
		return fmt.Errorf("%w: %v", ErrBackup, err)
	}
	// The snapshot, not a bootstrap, starts the new Raft group: its index is
	// the backup's applied index, so Raft's next entries come after
	// everything the ledger holds and none is skipped as already applied.
	snaps, err := openSnapshotStore(cfg.Dir, hclog.NewNullLogger(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBackup, err)
	}
	index := max(m.Applied, 1)
	conf := raft.Configuration{Servers: []raft.Server{{Suffrage: raft.Voter, ID: raft.ServerID(cfg.Self.ID), Address: raft.ServerAddress(cfg.Self.Address)}}}
	// Every Raft transport of this module encodes a peer as its address;
	// the in-memory one does so without listening.
	_, enc := raft.NewInmemTransport("")
	defer enc.Close()
	sink, err := snaps.Create(raft.SnapshotVersionMax, index, 1, conf, index, enc)
	if err != nil {
		return fmt.Errorf("%w: create snapshot: %v", ErrBackup, err)
	}
	src, err := os.Open(cfg.From)
	if err != nil {
		sink.Cancel()
		return fmt.Errorf("%w: %v", ErrBackup, err)
	}
	_, err = io.Copy(sink, src)
	src.Close()
	if err != nil {
		sink.Cancel()
		return fmt.Errorf("%w: write snapshot: %v", ErrBackup, err)
	}
	if err := sink.Close(); err != nil {
		return fmt.Errorf("%w: write snapshot: %v", ErrBackup, err)
	}
	store, err := raftboltdb.New(raftboltdb.Options{Path: raftPath, BoltOptions: boltOptions()})
	if err != nil {
		return fmt.Errorf("%w: raft store: %v", ErrBackup, err)
	}
	defer store.Close()
	// Raft's term must not be below the snapshot's.
	if err := store.SetUint64([]byte("CurrentTerm"), 1); err != nil {
		return fmt.Errorf("%w: raft store: %v", ErrBackup, err)
	}
	return nil
}

// checkHeldLedger refuses to replace a ledger that has signed more than
// the backup, or something else at the same size.
func checkHeldLedger(held, from string, m BackupManifest) error {
	db, err := bolt.Open(held, 0o400, &bolt.Options{ReadOnly: true, Timeout: boltOptions().Timeout})
	if err != nil {
		return fmt.Errorf("%w: open the ledger already in place, %s: %v", ErrBackup, held, err)
	}
	defer db.Close()
	var heldSize uint64
	var heldRoot []byte
	err = db.View(func(tx *bolt.Tx) error {
		if c := string(tx.Bucket(bucketMeta).Get(keyCourt)); c != m.Court {
			return fmt.Errorf("%w: %s is a ledger of court %q, the backup is of %q", ErrBackup, held, c, m.Court)
		}
		k, v := tx.Bucket(bucketHeads).Cursor().Last()
		if k == nil {
			return nil
		}
		h, err := checkpoint.ParseUnverified(v)
		if err != nil {
			return fmt.Errorf("%w: head in %s: %v", ErrBackup, held, err)
		}
		heldSize, heldRoot = h.Size, h.Root
		return nil
	})
	if err != nil || heldSize == 0 {
		return err
	}
	if heldSize > m.Size {
		return fmt.Errorf("%w: %s has signed %d entries, the backup only %d: restoring would take back signed entries (use a newer backup, or move %s aside if you mean it)",
			ErrBackup, held, heldSize, m.Size, held)
	}
	bdb, err := bolt.Open(from, 0o400, &bolt.Options{ReadOnly: true, Timeout: boltOptions().Timeout})
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBackup, err)
	}
	defer bdb.Close()
	return bdb.View(func(tx *bolt.Tx) error {
		rng, err := merkle.LoadRange(context.Background(), bucketHashes{tx.Bucket(bucketNodes)}, heldSize)
		if err != nil {
			return fmt.Errorf("%w: tree of %s: %v", ErrBackup, from, err)
		}
		if !bytes.Equal(rng.Root(), heldRoot) {
			return fmt.Errorf("%w: the backup's first %d entries are not those %s signed: it is of another history", ErrBackup, heldSize, held)
		}
		return nil
	})
}

func copyFileSynced(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	tmp := to + ".restore"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, src)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, to)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(to)
}
