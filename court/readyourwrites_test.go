package court

import (
	"context"
	"fmt"
	"testing"

	pb "github.com/courtledger/courtledger/api/gen/courtledger/v1"
	"github.com/courtledger/courtledger/court/access"
	"github.com/courtledger/courtledger/crypto/sm3"
)

// What the court acknowledged, any node confirms at once: a follower asked
// right after the leader's receipt catches up before it answers NOT
// RECORDED. Before, it answered from what it had applied, up to a commit
// timeout behind (the docs test and the demo's printed steps hit it).
func TestFollowerConfirmsWhatWasAcknowledged(t *testing.T) {
	c := registerPlatform(t, startCourt(t, 3))
	ctx := context.Background()
	leader, _ := c.dial(t, c.leader().GRPCAddr())
	follower := pb.NewEvidenceServiceClient(dialToken(t, c.ca, c.follower().GRPCAddr(), tokenFor(access.RoleJudge)))
	for i := range 10 {
		file := []byte(fmt.Sprintf("contract %d", i))
		if _, err := leader.Submit(ctx, &pb.SubmitRequest{Submission: c.signed(t, fmt.Sprintf("ryw-%d", i), file)}); err != nil {
			t.Fatal(err)
		}
		fp := sm3.Sum(file)
		r, err := follower.VerifyFingerprint(ctx, &pb.VerifyFingerprintRequest{Fingerprint: fmt.Sprintf("%x", fp[:])})
		if err != nil || !r.Recorded {
			t.Fatalf("filing %d, acknowledged by the leader: a follower says recorded=%v (%v)", i, r.GetRecorded(), err)
		}
	}
}
