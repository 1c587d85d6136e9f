package court

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	pb "github.com/courtledger/courtledger/api/gen/courtledger/v1"
	"github.com/courtledger/courtledger/consensus"
	"github.com/courtledger/courtledger/court/access"
	"github.com/courtledger/courtledger/court/devca"
	"github.com/courtledger/courtledger/court/witness"
	"github.com/courtledger/courtledger/crypto/checkpoint"
	"github.com/courtledger/courtledger/crypto/merkle"
	"github.com/courtledger/courtledger/crypto/sm2"
	"github.com/courtledger/courtledger/crypto/sm3"
	"github.com/courtledger/courtledger/evidence"
)

const liar = "xian.court.example/evidence"

// history is a log a lying court can serve: entries, a head every few
// entries, signed with whatever key it is given.
type history struct {
	entries [][]byte
	heads   map[uint64][]byte
	store   *merkle.MemStore
	last    uint64
}

// newHistory builds n entries of court whose request IDs start with
// variant, signing a head after every batch entries.
func newHistory(t *testing.T, signer *checkpoint.Signer, platform *sm2.PrivateKey, variant string, n, batch int) *history {
	t.Helper()
	h := &history{heads: map[uint64][]byte{}, store: merkle.NewMemStore()}
	at := time.Now().UTC().Truncate(time.Millisecond)
	for i := 0; i < n; i++ {
		rid := fmt.Sprintf("%s-%d", variant, i)
		s := evidence.Submission{Court: liar, Platform: "esign.example", RequestID: rid, Fingerprint: sm3.Sum([]byte(rid)),
			Category: evidence.CategoryContract, Title: "合同", SignedAt: at}
		sig, err := s.Sign(platform)
		if err != nil {
			t.Fatal(err)
		}
		e := evidence.NewEntry(liar, uint64(i), at, s, sig)
		raw := e.Marshal()
		h.entries = append(h.entries, raw)
		h.store.AppendLeaf(raw)
		if (i+1)%batch == 0 || i == n-1 {
			note, err := checkpoint.Sign(checkpoint.TreeHead{Origin: liar, Size: uint64(i + 1), Root: h.store.Root(), Time: at}, signer)
			if err != nil {
				t.Fatal(err)
			}
			h.heads[uint64(i+1)], h.last = note, uint64(i+1)
		}
	}
	return h
}

// fakeCourt is a test double of a court's sync service serving whatever
// history it is told to, at one endpoint.
type fakeCourt struct {
	pb.UnimplementedSyncServiceServer
	mu   sync.Mutex
	hist *history
	addr string
}

// startFake serves the lying court's sync service over TLS, with a node
// certificate of that court from ca: the lie is in what it signs, not in
// who it is.
func startFake(t *testing.T, ca *devca.CA, h *history) *fakeCourt {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	certPEM, err := ca.Issue(access.NodeIdentity(liar, "liar-1"), devca.IssueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, certPEM)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeCourt{hist: h, addr: ln.Addr().String()}
	s := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}})))
	pb.RegisterSyncServiceServer(s, f)
	go s.Serve(ln)
	t.Cleanup(s.Stop)
	return f
}

func (f *fakeCourt) serve(h *history) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hist = h
}

func (f *fakeCourt) get() *history {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hist
}

func (f *fakeCourt) GetCheckpoint(context.Context, *pb.GetCheckpointRequest) (*pb.GetCheckpointResponse, error) {
	h := f.get()
	return &pb.GetCheckpointResponse{Note: string(h.heads[h.last])}, nil
}

func (f *fakeCourt) GetConsistency(ctx context.Context, req *pb.GetConsistencyRequest) (*pb.GetConsistencyResponse, error) {
	p, err := merkle.Consistency(ctx, f.get().store, req.FromSize, req.ToSize)
	if err != nil {
		return nil, err
	}
	return &pb.GetConsistencyResponse{Proof: p}, nil
}

func (f *fakeCourt) StreamEntries(req *pb.StreamEntriesRequest, stream grpc.ServerStreamingServer[pb.EntriesPage]) error {
	h := f.get()
	page := &pb.EntriesPage{Start: req.Start}
	for i := req.Start; i < req.End && i < uint64(len(h.entries)); i++ {
		page.Entries = append(page.Entries, h.entries[i])
		if note, ok := h.heads[i+1]; ok {
			page.Heads = append(page.Heads, string(note))
		}
	}
	return stream.Send(page)
}

func (f *fakeCourt) AddCosignature(context.Context, *pb.AddCosignatureRequest) (*pb.AddCosignatureResponse, error) {
	return &pb.AddCosignatureResponse{}, nil
}

func (f *fakeCourt) ExchangeHeads(context.Context, *pb.ExchangeHeadsRequest) (*pb.ExchangeHeadsResponse, error) {
	return &pb.ExchangeHeadsResponse{}, nil
}

type liarSetup struct {
	key      *sm2.PrivateKey
	signer   *checkpoint.Signer
	verifier *checkpoint.Verifier
	platform *sm2.PrivateKey
}

func newLiar(t *testing.T) liarSetup {
	k, _ := sm2.GenerateKey()
	p, _ := sm2.GenerateKey()
	s, err := checkpoint.NewSigner(liar, k)
	if err != nil {
		t.Fatal(err)
	}
	return liarSetup{key: k, signer: s, verifier: s.Verifier(), platform: p}
}

// waitAlarm waits for court c to raise an alarm on the liar, and checks
// that it carries both signed heads, each signed by the liar's key.
func waitAlarm(t *testing.T, c *netCourt, l liarSetup, kind consensus.AlarmKind) *pb.Alarm {
	t.Helper()
	var alarm *pb.Alarm
	eventually(t, 30*time.Second, c.id+" to raise a "+string(kind)+" alarm", func() bool {
		_, ad := c.net.dial(c.any().GRPCAddr())
		r, err := ad.ListAlarms(context.Background(), &pb.ListAlarmsRequest{})
		if err != nil || len(r.Alarms) == 0 {
			return false
		}
		alarm = r.Alarms[0]
		return true
	})
	if alarm.Court != liar || alarm.Kind != string(kind) {
		t.Fatalf("%s raised %s on %s (%s), want %s on %s", c.id, alarm.Kind, alarm.Court, alarm.Detail, kind, liar)
	}
	for _, note := range []string{alarm.HeldNote, alarm.ConflictingNote} {
		if _, _, err := checkpoint.Open([]byte(note), l.verifier); err != nil {
			t.Fatalf("alarm evidence is not a head signed by the liar: %v\n%s", err, note)
		}
	}
	return alarm
}

func TestLyingCourtRewritesHistory(t *testing.T) {
	l, ca := newLiar(t), testCA(t)
	honest := newHistory(t, l.signer, l.platform, "a", 40, 8)
	fake := startFake(t, ca, honest)
	nw := newNetwork(t, ca, []string{bj, gz}, 1, func(string) []witness.OtherCourt {
		return []witness.OtherCourt{{Court: liar, Endpoints: []string{fake.addr}, Key: l.key.Public()}}
	})
	B, G := nw.courts[bj], nw.courts[gz]
	for _, c := range []*netCourt{B, G} {
		eventually(t, 30*time.Second, c.id+" to mirror the court's 40 entries", func() bool { return mirrorSize(c.any(), liar) == 40 })
	}

	// The court rewrites entry 3 and signs a longer log.
	rewritten := newHistory(t, l.signer, l.platform, "a", 60, 8)
	rewritten.entries[3] = newHistory(t, l.signer, l.platform, "b", 4, 8).entries[3]
	rewritten.store = merkle.NewMemStore()
	for _, raw := range rewritten.entries {
		rewritten.store.AppendLeaf(raw)
	}
	at := time.Now()
	note, _ := checkpoint.Sign(checkpoint.TreeHead{Origin: liar, Size: 60, Root: rewritten.store.Root(), Time: at}, l.signer)
	rewritten.heads = map[uint64][]byte{60: note}
	rewritten.last = 60
	fake.serve(rewritten)

	for _, c := range []*netCourt{B, G} {
		a := waitAlarm(t, c, l, consensus.AlarmInconsistent)
		held, _ := checkpoint.ParseUnverified([]byte(a.HeldNote))
		conflict, _ := checkpoint.ParseUnverified([]byte(a.ConflictingNote))
		if held.Size != 40 || conflict.Size != 60 {
			t.Fatalf("%s: alarm holds heads of sizes %d and %d, want 40 and 60", c.id, held.Size, conflict.Size)
		}
	}
	// The mirror is never overwritten with the fork, and stays put.
	time.Sleep(500 * time.Millisecond)
	if got := mirrorSize(B.any(), liar); got != 40 {
		t.Fatalf("Beijing's mirror of the liar has %d entries, want the 40 verified", got)
	}
	root, _ := B.any().ledger.Log(liar).RootAt(40)
	if want, _ := merkle.Root(context.Background(), honest.store, 40); string(root) != string(want) {
		t.Fatal("Beijing's mirror was changed by the fork")
	}

	// Honest courts keep serving everything else.
	ids := G.file("after-alarm", 5)
	eventually(t, 30*time.Second, "Beijing to mirror Guangzhou's entries", func() bool { return mirrorSize(B.any(), gz) == 5 })
	ev, ad := nw.dial(B.any().GRPCAddr())
	if _, err := ev.GetEvidence(context.Background(), &pb.GetEvidenceRequest{EvidenceId: ids[4]}); err != nil {
		t.Fatalf("Beijing stopped serving Guangzhou's evidence: %v", err)
	}

	// An operator clears the alarm: it moves to the history, and mirroring
	// the liar (still serving its fork) raises it again.
	if _, err := ad.ClearAlarm(context.Background(), &pb.ClearAlarmRequest{Court: liar, Operator: "ops@beijing"}); err != nil {
		t.Fatalf("clear alarm: %v", err)
	}
	r, err := ad.ListAlarms(context.Background(), &pb.ListAlarmsRequest{History: true})
	if err != nil || len(r.Alarms) == 0 {
		t.Fatalf("alarm history: %v %+v", err, r)
	}
	cleared := false
	for _, a := range r.Alarms {
		cleared = cleared || (a.ClearedBy == "ops@beijing" && a.ClearedAt != nil)
	}
	if !cleared {
		t.Fatalf("cleared alarm not in the history: %+v", r.Alarms)
	}
	waitAlarm(t, B, l, consensus.AlarmInconsistent)
	if _, err := ad.ClearAlarm(context.Background(), &pb.ClearAlarmRequest{Court: gz, Operator: "ops"}); err == nil {
		t.Fatal("clearing an alarm that was never raised succeeded")
	}
}

func TestLyingCourtSplitView(t *testing.T) {
	l, ca := newLiar(t), testCA(t)
	// The same court, two histories of the same size, one per audience.
	toBeijing := startFake(t, ca, newHistory(t, l.signer, l.platform, "a", 30, 10))
	toGuangzhou := startFake(t, ca, newHistory(t, l.signer, l.platform, "b", 30, 10))
	nw := newNetwork(t, ca, []string{bj, gz}, 1, func(court string) []witness.OtherCourt {
		ep := toBeijing.addr
		if court == gz {
			ep = toGuangzhou.addr
		}
		return []witness.OtherCourt{{Court: liar, Endpoints: []string{ep}, Key: l.key.Public()}}
	})
	B, G := nw.courts[bj], nw.courts[gz]
	// Each court alone sees a consistent log; gossip between them shows the
	// two heads of size 30.
	for _, c := range []*netCourt{B, G} {
		a := waitAlarm(t, c, l, consensus.AlarmGossip)
		other := bj
		if c.id == bj {
			other = gz
		}
		if a.Source != other {
			t.Fatalf("%s: the conflicting head came from %q, want %q", c.id, a.Source, other)
		}
	}
	// Both keep serving each other's evidence.
	ids := G.file("g", 3)
	eventually(t, 30*time.Second, "Beijing to mirror Guangzhou", func() bool { return mirrorSize(B.any(), gz) == 3 })
	ev, _ := nw.dial(B.any().GRPCAddr())
	if _, err := ev.GetEvidence(context.Background(), &pb.GetEvidenceRequest{EvidenceId: ids[2]}); err != nil {
		t.Fatal(err)
	}
}

func TestLyingCourtBadSignatureAndSameSizeFork(t *testing.T) {
	l, ca := newLiar(t), testCA(t)
	h := newHistory(t, l.signer, l.platform, "a", 20, 5)
	fake := startFake(t, ca, h)
	nw := newNetwork(t, ca, []string{bj}, 1, func(string) []witness.OtherCourt {
		return []witness.OtherCourt{{Court: liar, Endpoints: []string{fake.addr}, Key: l.key.Public()}}
	})
	B := nw.courts[bj]
	eventually(t, 30*time.Second, "Beijing to mirror 20 entries", func() bool { return mirrorSize(B.any(), liar) == 20 })

	// A second head of size 20 with another root, properly signed.
	fork := newHistory(t, l.signer, l.platform, "z", 20, 5)
	fake.serve(fork)
	waitAlarm(t, B, l, consensus.AlarmSameSize)

	// After a clear, a head under another key is a bad signature. The
	// liar serves it before the clear: while the alarm stands nothing is
	// fetched, so the first round after the clear sees the new key and
	// never the old fork again (which would raise same-size-fork anew).
	other := newLiar(t)
	fake.serve(newHistory(t, other.signer, other.platform, "a", 25, 5))
	_, ad := nw.dial(B.any().GRPCAddr())
	if _, err := ad.ClearAlarm(context.Background(), &pb.ClearAlarmRequest{Court: liar, Operator: "ops"}); err != nil {
		t.Fatal(err)
	}
	// The node asked may be a follower that applies the clear a moment
	// after the leader: wait for the new alarm rather than take the first.
	var seen []string
	defer func() {
		if t.Failed() {
			t.Logf("alarms seen last: %v", seen)
		}
	}()
	eventually(t, 30*time.Second, "a bad-signature alarm", func() bool {
		r, err := ad.ListAlarms(context.Background(), &pb.ListAlarmsRequest{})
		if err != nil {
			return false
		}
		seen = seen[:0]
		for _, a := range r.Alarms {
			if a.Kind == string(consensus.AlarmBadSignature) {
				return true
			}
			seen = append(seen, a.Kind+" ("+a.Detail+")")
		}
		return false
	})
	if len(seen) > 0 {
		t.Logf("alarms besides bad-signature: %v", seen)
	}
	if got := mirrorSize(B.any(), liar); got != 20 {
		t.Fatalf("mirror has %d entries after the alarms, want 20", got)
	}
}
