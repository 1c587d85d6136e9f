package court

import (
	"bytes"
	"context"
	"encoding/hex"
	"io"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/courtledger/courtledger/api/gen/courtledger/v1"
	"github.com/courtledger/courtledger/court/access"
	"github.com/courtledger/courtledger/crypto/checkpoint"
	"github.com/courtledger/courtledger/crypto/sm3"
	"github.com/courtledger/courtledger/evidence"
	"github.com/courtledger/courtledger/evidence/certificate"
)

const (
	hz = "hangzhou.court.example/evidence"
	bj = "beijing.court.example/evidence"
	gz = "guangzhou.court.example/evidence"
)

// mirrorSize is what a node holds of court's log.
func mirrorSize(n *Node, court string) uint64 {
	st, err := n.ledger.Mirror(court)
	if err != nil {
		return 0
	}
	return st.Size
}

// checkMirrorExact checks that every node of c holds exactly origin's log:
// the same bytes at every index, nothing missing, nothing doubled.
func checkMirrorExact(t *testing.T, c *netCourt, origin *netCourt) {
	t.Helper()
	want := origin.any().ledger.Log(origin.id)
	size := want.Size()
	wantRaw, err := want.RawEntries(0, size, int(size))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range c.nodes {
		if n == nil {
			continue
		}
		eventually(t, 60*time.Second, n.cfg.NodeID+" to hold all of "+origin.id, func() bool { return mirrorSize(n, origin.id) == size })
		got, err := n.ledger.Log(origin.id).RawEntries(0, size+1, int(size)+1)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(wantRaw) {
			t.Fatalf("%s mirrors %d entries of %s, want %d", n.cfg.NodeID, len(got), origin.id, len(wantRaw))
		}
		seen := map[string]bool{}
		for i := range got {
			if !bytes.Equal(got[i], wantRaw[i]) {
				t.Fatalf("%s: entry %d of %s differs from the origin's", n.cfg.NodeID, i, origin.id)
			}
			e, _ := evidence.UnmarshalEntry(got[i])
			if seen[e.EvidenceID] {
				t.Fatalf("%s: evidence %s twice in the mirror", n.cfg.NodeID, e.EvidenceID)
			}
			seen[e.EvidenceID] = true
		}
		wr, _ := want.RootAt(size)
		gr, err := n.ledger.Log(origin.id).RootAt(size)
		if err != nil || !bytes.Equal(wr, gr) {
			t.Fatalf("%s: mirror root of %s %x, origin %x (%v)", n.cfg.NodeID, origin.id, gr, wr, err)
		}
	}
}

// TestSyncThreeCourts runs the protocol across three courts of three
// nodes: mirroring and cosigning, verification while the origin is down,
// a partition healed, and a follower court's leader killed mid-sync.
func TestSyncThreeCourts(t *testing.T) {
	if testing.Short() {
		t.Skip("three courts of three nodes")
	}
	start := time.Now()
	phase := func(what string) { t.Logf("%6.1fs %s", time.Since(start).Seconds(), what) }
	nw := newNetwork(t, nil, []string{hz, bj, gz}, 3, nil)
	phase("three courts of three nodes up")
	H, B, G := nw.courts[hz], nw.courts[bj], nw.courts[gz]
	ctx := context.Background()

	// 1,000 items at Hangzhou: all verifiable at Beijing and Guangzhou.
	ids := H.file("first", 1000)
	for _, c := range []*netCourt{B, G} {
		for _, n := range c.nodes {
			eventually(t, 60*time.Second, n.cfg.NodeID+" to mirror 1000 entries", func() bool { return mirrorSize(n, hz) == 1000 })
		}
	}
	for _, c := range []*netCourt{B, G} {
		ev, _ := nw.dial(c.nodes[2].GRPCAddr())
		for i, id := range ids {
			r, err := getWhileBehind(ctx, ev, id)
			if err != nil {
				t.Fatalf("%s: evidence %d (%s): %v", c.id, i, id, err)
			}
			p := r.Receipt.Provenance
			if p.OriginCourt != hz || !p.Mirrored || p.ServedBy != c.id || p.MirrorSize != 1000 {
				t.Fatalf("%s: provenance %+v", c.id, p)
			}
			if !slices.Contains(p.Witnesses, c.id) {
				t.Fatalf("%s: its own cosignature is missing from the mirror's head: %v\n%s", c.id, p.Witnesses, r.Receipt.TreeHead.Note)
			}
			verifyCourtReceipt(t, hz, H, r.Receipt)
		}
	}

	phase("1000 entries mirrored and verified at Beijing and Guangzhou")
	// Hangzhou's heads carry two cosignatures.
	eventually(t, 30*time.Second, "Hangzhou's head at 1000 to carry two cosignatures", func() bool {
		lines, _ := H.any().ledger.Cosignatures(1000)
		return len(lines) == 2
	})
	hev, _ := nw.dial(H.nodes[1].GRPCAddr())
	r, err := hev.GetEvidence(ctx, &pb.GetEvidenceRequest{EvidenceId: ids[10]})
	if err != nil {
		t.Fatal(err)
	}
	if w := r.Receipt.Provenance.Witnesses; !slices.Equal(w, []string{bj, gz}) {
		t.Fatalf("Hangzhou's receipt is witnessed by %v, want Beijing and Guangzhou", w)
	}
	verifyCourtReceipt(t, hz, H, r.Receipt)
	v1, _ := checkpoint.NewVerifier(hz, H.key.Public())
	c1, _ := checkpoint.NewCosignatureVerifier(bj, B.key.Public())
	c2, _ := checkpoint.NewCosignatureVerifier(gz, G.key.Public())
	if _, n, err := checkpoint.Open([]byte(r.Receipt.TreeHead.Note), v1, c1, c2); err != nil || len(n.Sigs) != 3 {
		t.Fatalf("witnessed head: %v, %d signatures", err, len(n.Sigs))
	}

	// A certificate from Hangzhou carries both witnesses.
	verifier := trustAll(t, nw)
	if res := fetchCertificate(t, nw, verifier, H.nodes[0], ids[10], 2); res.Details.Court != hz {
		t.Fatalf("certificate names court %q", res.Details.Court)
	}
	phase("cosignatures checked")
	// Every Hangzhou node down: Beijing still verifies, and says how fresh.
	for i := range H.nodes {
		H.stop(i)
	}
	// Beijing issues a certificate of Hangzhou's evidence from its mirror,
	// witnessed by itself, that checks offline under Hangzhou's key.
	fetchCertificate(t, nw, verifier, B.nodes[0], ids[7], 1)
	bev, bad := nw.dial(B.nodes[0].GRPCAddr())
	vr, err := bev.VerifyFingerprint(ctx, &pb.VerifyFingerprintRequest{Fingerprint: fpHex("first-7")})
	if err != nil || !vr.Recorded || len(vr.Receipts) != 1 {
		t.Fatalf("verify at Beijing with Hangzhou down: %v %+v", err, vr)
	}
	if p := vr.Receipts[0].Provenance; p.MirrorCheckedAt == nil || p.MirrorHeadTime == nil || p.OriginCourt != hz {
		t.Fatalf("no freshness in %+v", p)
	}
	// Any node reports the mirror's size and staleness; the leader, which
	// runs the sync loop, also why it is stale.
	st, err := bad.GetSyncStatus(ctx, &pb.GetSyncStatusRequest{})
	if err != nil || len(st.Mirrors) != 2 || st.Mirrors[1].Court != hz || st.Mirrors[1].Size != 1000 || st.Mirrors[1].CheckedAt == nil {
		t.Fatalf("Beijing's sync status: %v %+v", err, st)
	}
	eventually(t, 30*time.Second, "Beijing's leader to report Hangzhou unreachable", func() bool {
		_, ad := nw.dial(B.waitLeader().GRPCAddr())
		st, err := ad.GetSyncStatus(ctx, &pb.GetSyncStatusRequest{})
		return err == nil && st.Mirrors[1].LastError != "" && st.Mirrors[1].StalenessSeconds > 0
	})

	// Hangzhou back, Beijing cut off from it while Hangzhou files 10,000
	// more; Guangzhou follows meanwhile.
	phase("verified with Hangzhou down")
	nw.partition(bj, hz)
	for i := range H.nodes {
		H.start(i)
	}
	H.waitLeader()
	H.file("second", 10000)
	phase("10000 more filed at Hangzhou")
	checkMirrorExact(t, G, H)
	phase("Guangzhou converged")
	if got := mirrorSize(B.any(), hz); got != 1000 {
		t.Fatalf("Beijing mirrors %d entries of Hangzhou through a partition", got)
	}

	// Heal, and kill Beijing's leader while it catches up: the next leader
	// resumes where the mirror stands.
	nw.heal(bj, hz)
	old := B.waitLeader()
	eventually(t, 60*time.Second, "Beijing to start catching up", func() bool { return mirrorSize(old, hz) > 1000 })
	killed := -1
	for i, n := range B.nodes {
		if n == old {
			killed = i
		}
	}
	caught := mirrorSize(old, hz)
	B.stop(killed)
	t.Logf("Beijing's leader stopped with %d of 11000 entries of Hangzhou mirrored", caught)
	B.waitLeader()
	checkMirrorExact(t, B, H)
	phase("Beijing converged after its leader stopped")
	B.start(killed)
	checkMirrorExact(t, B, H)
	phase("restarted node converged")
	eventually(t, 30*time.Second, "Hangzhou's head at 11000 to carry two cosignatures", func() bool {
		lines, _ := H.any().ledger.Cosignatures(11000)
		return len(lines) == 2
	})
	if alarms, _ := B.any().ledger.Alarms(true); len(alarms) != 0 {
		t.Fatalf("alarms after honest faults: %+v", alarms)
	}
}

func fpHex(rid string) string {
	fp := sm3.Sum([]byte(rid))
	return hex.EncodeToString(fp[:])
}

func verifyCourtReceipt(t *testing.T, origin string, c *netCourt, r *pb.Receipt) {
	t.Helper()
	e, err := evidence.UnmarshalEntry(r.Entry.Canonical)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := checkpoint.NewVerifier(origin, c.key.Public())
	rc := evidence.Receipt{Entry: *e, Proof: r.InclusionProof, SignedHead: []byte(r.TreeHead.Note)}
	if _, err := rc.Verify(v); err != nil {
		t.Fatalf("receipt of %s at %d does not verify under %s's key: %v", e.EvidenceID, e.Index, origin, err)
	}
}

func trustAll(t *testing.T, nw *network) *certificate.Verifier {
	t.Helper()
	var keys []*checkpoint.Verifier
	for _, c := range nw.courts {
		v, err := checkpoint.NewVerifier(c.id, c.key.Public())
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, v)
	}
	trust, err := certificate.NewTrust(keys...)
	if err != nil {
		t.Fatal(err)
	}
	v, err := certificate.NewVerifier(certificate.VerifierConfig{Trust: trust})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// fetchCertificate downloads the certificate of an evidence ID from a
// node over REST and checks it offline, with at least minWitnesses.
func fetchCertificate(t *testing.T, nw *network, v *certificate.Verifier, n *Node, id string, minWitnesses int) certificate.Result {
	t.Helper()
	hr, err := newREST(nw.ca, tokenFor(access.RoleJudge)).Get("https://" + n.HTTPAddr() + "/v1/evidence/" + id + "/certificate")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(hr.Body)
	hr.Body.Close()
	if hr.StatusCode != 200 {
		t.Fatalf("certificate of %s from %s: %d %s", id, n.cfg.Court, hr.StatusCode, body)
	}
	res := v.Verify(body, certificate.Policy{MinWitnesses: minWitnesses})
	if res.Verdict != certificate.Valid {
		t.Fatalf("certificate of %s from %s: %v: %s", id, n.cfg.Court, res.Verdict, res.Reason)
	}
	return res
}

// getWhileBehind reads an entry from one node, asking again for a while if
// the node refuses as not ready (its ledger fell behind for a moment on a
// loaded machine), as a client that names one node must.
func getWhileBehind(ctx context.Context, ev pb.EvidenceServiceClient, id string) (*pb.GetEvidenceResponse, error) {
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		r, err := ev.GetEvidence(ctx, &pb.GetEvidenceRequest{EvidenceId: id})
		if status.Code(err) != codes.Unavailable || time.Now().After(deadline) {
			return r, err
		}
	}
}
