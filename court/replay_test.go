package court

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/courtledger/courtledger/api/client"
	pb "github.com/courtledger/courtledger/api/gen/courtledger/v1"
	"github.com/courtledger/courtledger/crypto/sm3"
	"github.com/courtledger/courtledger/evidence"
)

// A submission the platform signed for court A, sent to court B where the
// platform is registered too (a replay by whoever saw it at A), is refused
// and recorded nowhere; so is a version 1 submission, which names no court
// (issue 13, item 10). Before the court ID was signed, B verified the
// platform's signature over the same bytes A had and recorded the entry
// under the platform's name.
func TestSubmissionForAnotherCourtIsRefused(t *testing.T) {
	const courtA = "beijing.court.example/evidence"
	c := registered(t, nil) // court B: testCourt, esign.example registered
	ev, _ := c.dial(t, c.nodes[0].GRPCAddr())
	ctx := context.Background()
	before := c.leader().Ledger().Size()

	sign := func(court, rid string) *pb.SignedSubmission {
		s := evidence.Submission{Court: court, Platform: "esign.example", RequestID: rid, Fingerprint: sm3.Sum([]byte(rid)),
			Category: evidence.CategoryContract, Title: "合同", SignedAt: time.Now().UTC().Truncate(time.Millisecond)}
		var sig []byte
		var err error
		if court == "" {
			sig, err = c.platform.Sign(s.Marshal()) // as version 1 clients signed
		} else {
			sig, err = s.Sign(c.platform)
		}
		if err != nil {
			t.Fatal(err)
		}
		return &pb.SignedSubmission{Submission: client.ToPB(&s), Signature: sig}
	}
	for _, tc := range []struct {
		name, court, reason string
		say                 []string
	}{
		{"signed for court A", courtA, "WRONG_COURT", []string{courtA, testCourt, "court=" + testCourt}},
		{"version 1", "", "SUBMISSION_VERSION", []string{"version 1", "court=" + testCourt}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rid := "replay-" + strings.ReplaceAll(tc.name, " ", "-")
			_, err := ev.Submit(ctx, &pb.SubmitRequest{Submission: sign(tc.court, rid)})
			st := status.Convert(err)
			if st.Code() != codes.InvalidArgument || reasonOf(err) != tc.reason {
				t.Fatalf("got %v (reason %q), want InvalidArgument %s", err, reasonOf(err), tc.reason)
			}
			for _, want := range tc.say {
				if !strings.Contains(st.Message(), want) {
					t.Errorf("message %q does not say %q", st.Message(), want)
				}
			}
			// Nothing recorded: not under its evidence ID at B, and the log
			// did not grow.
			_, err = ev.GetEvidence(ctx, &pb.GetEvidenceRequest{EvidenceId: evidence.EvidenceID(testCourt, "esign.example", rid)})
			if status.Code(err) != codes.NotFound {
				t.Errorf("GetEvidence of the refused submission: %v, want NotFound", err)
			}
		})
	}
	// The same platform's submission for B itself is accepted, so the
	// refusals above are for the court, not the platform or its key.
	if _, err := ev.Submit(ctx, &pb.SubmitRequest{Submission: sign(testCourt, "replay-own")}); err != nil {
		t.Fatalf("submission for this court: %v", err)
	}
	if after := c.leader().Ledger().Size(); after != before+1 {
		t.Errorf("log grew from %d to %d, want only the accepted submission", before, after)
	}
}
