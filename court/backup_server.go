package court

import (
	"context"
	"io"
	"sync/atomic"

	"google.golang.org/grpc/codes"

	pb "github.com/courtledger/courtledger/api/gen/courtledger/v1"
	"github.com/courtledger/courtledger/consensus"
	"github.com/courtledger/courtledger/court/apierr"
)

// backupChunk is the most ledger bytes one BackupChunk carries.
const backupChunk = 1 << 20

// backupLedger is what the backup service needs of the ledger.
type backupLedger interface {
	Backup(ctx context.Context, w io.Writer) (consensus.BackupManifest, error)
}

// backupServer streams hot backups of the node's ledger file. A backup
// holds one bbolt read transaction for its whole run, so pages freed
// meanwhile are not reused and the file grows by what is written during
// it: one backup at a time per node bounds that.
type backupServer struct {
	pb.UnimplementedBackupServiceServer
	ledger  backupLedger
	running atomic.Bool
}

var errBackupRunning error = &apierr.Problem{Code: codes.ResourceExhausted, Reason: "BACKUP_RUNNING",
	Message: "a backup of this node is already running; wait for it to end, or back up another node"}

func (s *backupServer) Backup(_ *pb.BackupRequest, stream pb.BackupService_BackupServer) error {
	if !s.running.CompareAndSwap(false, true) {
		return toStatus(errBackupRunning)
	}
	defer s.running.Store(false)
	w := &chunkWriter{send: func(b []byte) error { return stream.Send(&pb.BackupChunk{Data: b}) }}
	m, err := s.ledger.Backup(stream.Context(), w)
	if err == nil {
		err = w.flush()
	}
	if err != nil {
		return toStatus(err)
	}
	raw, err := consensus.MarshalBackupManifest(m)
	if err != nil {
		return toStatus(err)
	}
	return stream.Send(&pb.BackupChunk{Manifest: raw})
}

// chunkWriter turns the ledger's writes into messages of backupChunk bytes.
type chunkWriter struct {
	buf  []byte
	send func([]byte) error
}

func (c *chunkWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		k := min(len(p), backupChunk-len(c.buf))
		c.buf = append(c.buf, p[:k]...)
		p = p[k:]
		if len(c.buf) == backupChunk {
			if err := c.flush(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

func (c *chunkWriter) flush() error {
	if len(c.buf) == 0 {
		return nil
	}
	err := c.send(c.buf)
	c.buf = make([]byte, 0, backupChunk)
	return err
}
