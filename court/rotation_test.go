package court

import (
	"bytes"
	"context"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/courtledger/courtledger/api/client"
	pb "github.com/courtledger/courtledger/api/gen/courtledger/v1"
	"github.com/courtledger/courtledger/consensus"
	"github.com/courtledger/courtledger/court/access"
	"github.com/courtledger/courtledger/crypto/checkpoint"
	"github.com/courtledger/courtledger/crypto/sm2"
	"github.com/courtledger/courtledger/evidence/certificate"
)

// restart restarts the court's nodes one by one with their current
// configuration, waiting for a leader after each, as an operator would.
func (c *netCourt) restart() {
	c.net.t.Helper()
	for i := range c.nodes {
		c.stop(i)
		c.start(i)
		c.waitLeader()
	}
}

// TestKeyRotation follows docs/security.md, "Key rotation": Hangzhou's new
// key is given to Beijing first, then Hangzhou's nodes restart one by one
// with the new key and the old one as previous. Beijing keeps mirroring and
// cosigning without alarm; Guangzhou, never told of the new key, raises a
// bad-signature alarm; old receipts and certificates still verify offline
// with both keys.
func TestKeyRotation(t *testing.T) {
	if testing.Short() {
		t.Skip("three courts, rolling restarts")
	}
	nw := newNetwork(t, nil, []string{hz, bj, gz}, 3, nil)
	H, B, G := nw.courts[hz], nw.courts[bj], nw.courts[gz]
	ctx := context.Background()

	before := H.file("before", 40)
	eventually(t, 60*time.Second, "Hangzhou's head at 40 to carry two cosignatures", func() bool {
		lines, _ := H.any().ledger.Cosignatures(40)
		return len(lines) == 2
	})
	hev, _ := nw.dial(H.waitLeader().GRPCAddr())
	old, err := hev.GetEvidence(ctx, &pb.GetEvidenceRequest{EvidenceId: before[5]})
	if err != nil {
		t.Fatal(err)
	}
	oldKey := H.key
	oldV := mustCourtVerifier(t, hz, oldKey.Public())
	oldCert := downloadCertificate(t, nw, H.waitLeader(), before[5])

	// Step 1: Beijing learns the new key beside the old; Guangzhou stays
	// with the old one only.
	newKey, err := sm2.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	newV := mustCourtVerifier(t, hz, newKey.Public())
	B.trusts = map[string][]*sm2.PublicKey{hz: {oldKey.Public(), newKey.Public()}}
	G.trusts = map[string][]*sm2.PublicKey{hz: {oldKey.Public()}}
	B.restart()

	// Step 2: Hangzhou signs with the new key and keeps the old as previous.
	H.key, H.previous = newKey, []*sm2.PublicKey{oldKey.Public()}
	H.restart()

	// Hangzhou still recognises the witnesses of its heads signed with the
	// old key.
	hev, _ = nw.dial(H.waitLeader().GRPCAddr())
	r, err := hev.GetEvidence(ctx, &pb.GetEvidenceRequest{EvidenceId: before[5]})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.VerifyReceipt(r.Receipt, oldV); err != nil {
		t.Fatalf("before new entries, the receipt should still be under the old head: %v", err)
	}
	if w := r.Receipt.Provenance.Witnesses; !slices.Equal(w, []string{bj, gz}) {
		t.Fatalf("after rotation, Hangzhou's old head is witnessed by %v, want Beijing and Guangzhou", w)
	}

	// A cosignature on a head signed with the old key is still accepted.
	head, err := H.waitLeader().ledger.HeadAt(40)
	if err != nil {
		t.Fatal(err)
	}
	sigs, err := checkpoint.Signatures(head.Note)
	if err != nil {
		t.Fatal(err)
	}
	text, _, _ := bytes.Cut(head.Note, []byte("\n\n"))
	bare := append(append(bytes.Clone(text), "\n\n"...), sigs[0].Line...)
	witness, err := checkpoint.NewCosigner(bj, B.key, nil)
	if err != nil {
		t.Fatal(err)
	}
	line, err := checkpoint.Cosign(bare, witness)
	if err != nil {
		t.Fatal(err)
	}
	cosigned, err := checkpoint.WithSignatures(bare, line)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := H.waitLeader().syncServer().AddCosignature(ctx,
		&pb.AddCosignatureRequest{Witness: bj, CosignedNote: string(cosigned)}); err != nil {
		t.Fatalf("Beijing's cosignature of Hangzhou's head signed with the old key: %v", err)
	}

	after := H.file("after", 40)
	for _, n := range B.nodes {
		eventually(t, 60*time.Second, n.cfg.NodeID+" to mirror 80 entries of Hangzhou", func() bool { return mirrorSize(n, hz) == 80 })
	}
	eventually(t, 60*time.Second, "Beijing's cosignature on Hangzhou's head at 80", func() bool {
		lines, _ := H.any().ledger.Cosignatures(80)
		return len(lines) == 1
	})
	if alarms, _ := B.any().ledger.Alarms(true); len(alarms) != 0 {
		t.Fatalf("Beijing, told of both keys, raised alarms: %+v", alarms)
	}
	_, gad := nw.dial(G.any().GRPCAddr())
	var alarm *pb.Alarm
	eventually(t, 30*time.Second, "Guangzhou to raise an alarm on Hangzhou", func() bool {
		r, err := gad.ListAlarms(ctx, &pb.ListAlarmsRequest{})
		if err != nil || len(r.Alarms) == 0 {
			return false
		}
		alarm = r.Alarms[0]
		return true
	})
	if alarm.Court != hz || alarm.Kind != string(consensus.AlarmBadSignature) {
		t.Fatalf("Guangzhou raised %s on %s (%s), want %s on %s", alarm.Kind, alarm.Court, alarm.Detail, consensus.AlarmBadSignature, hz)
	}
	if got := mirrorSize(G.any(), hz); got > 40 {
		t.Fatalf("Guangzhou mirrors %d entries of Hangzhou past heads it cannot verify", got)
	}

	// Offline: receipts under either key verify with both keys; the old
	// one does not with the new key alone.
	bev, _ := nw.dial(B.nodes[1].GRPCAddr())
	mirrored, err := bev.GetEvidence(ctx, &pb.GetEvidenceRequest{EvidenceId: after[3]})
	if err != nil {
		t.Fatal(err)
	}
	for name, rc := range map[string]*pb.Receipt{"old receipt": old.Receipt, "new receipt via Beijing": mirrored.Receipt} {
		if _, err := client.VerifyReceipt(rc, newV, oldV); err != nil {
			t.Errorf("%s with both keys: %v", name, err)
		}
	}
	if _, err := client.VerifyReceipt(old.Receipt, newV); err == nil {
		t.Error("the old receipt verified under the new key alone")
	}
	if _, err := client.VerifyReceipt(mirrored.Receipt, oldV); err == nil {
		t.Error("a new receipt verified under the old key alone")
	}

	both := trustOf(t, newV, oldV, mustCourtVerifier(t, bj, B.key.Public()), mustCourtVerifier(t, gz, G.key.Public()))
	onlyNew := trustOf(t, newV, mustCourtVerifier(t, bj, B.key.Public()), mustCourtVerifier(t, gz, G.key.Public()))
	newCert := downloadCertificate(t, nw, H.waitLeader(), after[3])
	for name, c := range map[string][]byte{"certificate issued before": oldCert, "certificate issued after": newCert} {
		if res := both.Verify(c, certificate.Policy{MinWitnesses: 1}); res.Verdict != certificate.Valid {
			t.Errorf("%s, trusting both keys: %v: %s", name, res.Verdict, res.Reason)
		}
	}
	if res := onlyNew.Verify(oldCert, certificate.Policy{}); res.Verdict != certificate.Untrusted {
		t.Errorf("old certificate trusting only the new key: %v (%s), want UNTRUSTED", res.Verdict, res.Reason)
	}
}

func mustCourtVerifier(t *testing.T, court string, pub *sm2.PublicKey) *checkpoint.Verifier {
	t.Helper()
	v, err := checkpoint.NewVerifier(court, pub)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func trustOf(t *testing.T, keys ...*checkpoint.Verifier) *certificate.Verifier {
	t.Helper()
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

// downloadCertificate fetches the certificate JSON of an evidence ID from a
// node over REST, as a judge.
func downloadCertificate(t *testing.T, nw *network, n *Node, id string) []byte {
	t.Helper()
	hr, err := newREST(nw.ca, tokenFor(access.RoleJudge)).Get("https://" + n.HTTPAddr() + "/v1/evidence/" + id + "/certificate")
	if err != nil {
		t.Fatal(err)
	}
	defer hr.Body.Close()
	body, err := io.ReadAll(hr.Body)
	if err != nil || hr.StatusCode != 200 {
		t.Fatalf("certificate of %s from %s: %d %s (%v)", id, n.cfg.Court, hr.StatusCode, body, err)
	}
	return body
}
