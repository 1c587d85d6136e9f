package court

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc/codes"

	pb "github.com/courtledger/courtledger/api/gen/courtledger/v1"
	"github.com/courtledger/courtledger/consensus"
	"github.com/courtledger/courtledger/court/witness"
)

// GetSyncStatus answers from the node asked: a follower's view of the
// mirrors is what it has applied; the last error is known only on the
// leader, which runs the sync loops.
func (s *adminServer) GetSyncStatus(ctx context.Context, _ *pb.GetSyncStatusRequest) (*pb.GetSyncStatusResponse, error) {
	out := &pb.GetSyncStatusResponse{}
	for _, st := range s.n.syncer.Status() {
		out.Mirrors = append(out.Mirrors, mirrorStatusToPB(st, s.n.now()))
	}
	slices.SortFunc(out.Mirrors, func(a, b *pb.MirrorStatus) int { return strings.Compare(a.Court, b.Court) })
	return out, nil
}

func (s *adminServer) ListAlarms(ctx context.Context, req *pb.ListAlarmsRequest) (*pb.ListAlarmsResponse, error) {
	alarms, err := s.n.ledger.Alarms(req.History)
	if err != nil {
		return nil, toStatus(err)
	}
	out := &pb.ListAlarmsResponse{}
	if a, ok := s.n.ledgerAlarm(); ok {
		out.Alarms = append(out.Alarms, alarmToPB(a))
	}
	for _, a := range alarms {
		out.Alarms = append(out.Alarms, alarmToPB(a))
	}
	return out, nil
}

// AlarmLedgerCorrupt is the kind of the local alarm a node raises on its
// own ledger when a record it read did not match the hashes that commit
// to it. Unlike the equivocation alarms it is this node's, not the
// court's: it is listed by the node that found it, lasts while the ledger
// is corrupt and ends when the ledger has been rebuilt.
const AlarmLedgerCorrupt consensus.AlarmKind = "ledger-corrupt"

// ledgerAlarm is the alarm on this node's own ledger, if it is corrupt.
func (n *Node) ledgerAlarm() (consensus.Alarm, bool) {
	h := n.ledgerState()
	if h.State != consensus.HealthCorrupt {
		return consensus.Alarm{}, false
	}
	return consensus.Alarm{Court: n.cfg.Court, Kind: AlarmLedgerCorrupt, Source: n.cfg.NodeID, RaisedAt: n.corruptSince(),
		Detail: fmt.Sprintf("node %s: %s; the node is not ready and serves nothing from its ledger until it is rebuilt from a peer (%d corrupt records found since start)",
			n.cfg.NodeID, h.Reason, n.ledger.Corruptions())}, true
}

func mirrorStatusToPB(st witness.Status, now time.Time) *pb.MirrorStatus {
	ms := &pb.MirrorStatus{Court: st.Court, Size: st.Size, Alarmed: st.Alarmed}
	if st.Head.Note != nil {
		ms.Head = headToPB(st.Head.Head, st.Head.Note)
	}
	if !st.Checked.IsZero() {
		ms.CheckedAt = timestampOf(st.Checked)
		ms.StalenessSeconds = now.Sub(st.Checked).Seconds()
	}
	if st.LastError != nil {
		ms.LastError = st.LastError.Error()
	}
	return ms
}

func alarmToPB(a consensus.Alarm) *pb.Alarm {
	p := &pb.Alarm{Court: a.Court, Kind: string(a.Kind), Detail: a.Detail, HeldNote: string(a.Held),
		ConflictingNote: string(a.Conflict), Source: a.Source, RaisedAt: timestampOf(a.RaisedAt), ClearedBy: a.ClearedBy}
	if !a.ClearedAt.IsZero() {
		p.ClearedAt = timestampOf(a.ClearedAt)
	}
	return p
}

func (s *adminServer) ClearAlarm(ctx context.Context, req *pb.ClearAlarmRequest) (*pb.ClearAlarmResponse, error) {
	if !s.n.courts.Known(req.Court) {
		return nil, toStatus(unknownCourt("court", req.Court))
	}
	if req.Operator == "" || len(req.Operator) > 256 {
		return nil, toStatus(invalid("operator", "MISSING_FIELD", "operator (who reviewed the alarm, at most 256 bytes) is required"))
	}
	return onLeader(ctx, s.n,
		func(c *leaderConn, ctx context.Context) (*pb.ClearAlarmResponse, error) {
			return c.admin.ClearAlarm(ctx, req)
		},
		func() (*pb.ClearAlarmResponse, error) {
			if err := s.n.ledger.ClearAlarm(ctx, req.Court, req.Operator); err != nil {
				return nil, toStatus(err)
			}
			s.n.log.Warn("equivocation alarm cleared by operator; mirroring resumes", "peer_court", req.Court, "operator", req.Operator)
			return &pb.ClearAlarmResponse{}, nil
		})
}

func unknownCourt(field, court string) error {
	return &Problem{Code: codes.NotFound, Reason: "UNKNOWN_COURT", Field: field,
		Message: fmt.Sprintf("court %q is not known here: neither this court nor one it mirrors", court)}
}
