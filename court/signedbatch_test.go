package court

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/courtledger/courtledger/api/client"
	pb "github.com/courtledger/courtledger/api/gen/courtledger/v1"
	"github.com/courtledger/courtledger/court/access"
	"github.com/courtledger/courtledger/crypto/sm3"
	"github.com/courtledger/courtledger/evidence"
)

// signedBatch is a batch of n of esign.example's submissions, signed once.
func (c *testCourtNodes) signedBatch(t *testing.T, id string, n int) *evidence.SignedBatch {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Millisecond)
	subs := make([]evidence.Submission, n)
	for i := range subs {
		subs[i] = evidence.Submission{Court: testCourt, Platform: "esign.example", RequestID: fmt.Sprintf("%s-%d", id, i),
			Fingerprint: sm3.Sum([]byte(id + fmt.Sprint(i))), Category: evidence.CategoryContract, Title: "合同", SignedAt: now}
	}
	b, err := evidence.SignBatch(c.platform, evidence.BatchHeader{Court: testCourt, Platform: "esign.example", BatchID: id, SignedAt: now}, subs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// SubmitSignedBatch over gRPC at a follower (forwarded to the leader) and
// over REST: a receipt per submission that verifies, naming its batch; a
// retry gets the same receipts; another platform's batch is refused at the
// door; a bad signature refuses the whole batch.
func TestSubmitSignedBatchAtTheCourt(t *testing.T) {
	c := registerPlatform(t, startCourt(t, 3))
	ctx := context.Background()
	ev, _ := c.dial(t, c.follower().GRPCAddr())

	b := c.signedBatch(t, "grpc-batch", 4)
	resp, err := ev.SubmitSignedBatch(ctx, client.SignedBatchToPB(b))
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Results) != 4 {
		t.Fatalf("%d results", len(resp.Results))
	}
	for i, r := range resp.Results {
		rc := r.GetReceipt()
		if rc == nil {
			t.Fatalf("submission %d: %v", i, r.GetProblem())
		}
		verifyReceipt(t, c.key, rc)
		if bf := rc.GetEntry().GetBatch(); bf.GetLeaf() != uint32(i) || bf.GetHeader().GetBatchId() != "grpc-batch" || len(rc.GetEntry().GetSignature()) != 0 {
			t.Fatalf("submission %d: entry's batch %v", i, bf)
		}
	}

	// REST, the route of the proto's mapping; the same batch again.
	body, err := protojson.Marshal(client.SignedBatchToPB(b))
	if err != nil {
		t.Fatal(err)
	}
	hr, err := newREST(c.ca, tokenFor(access.RolePlatform)).Post("https://"+c.leader().HTTPAddr()+"/v1/evidence:signedBatch", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(hr.Body)
	hr.Body.Close()
	var again pb.SubmitBatchResponse
	if hr.StatusCode != 200 || protojson.Unmarshal(raw, &again) != nil || len(again.Results) != 4 {
		t.Fatalf("REST: %d %s", hr.StatusCode, raw)
	}
	for i, r := range again.Results {
		if !r.GetReceipt().GetDuplicate() || r.GetReceipt().GetEntry().GetIndex() != resp.Results[i].GetReceipt().GetEntry().GetIndex() {
			t.Fatalf("REST retry %d: %v", i, r)
		}
	}

	// Another platform's name in the header: refused before anything.
	other := c.signedBatch(t, "other", 2)
	other.Header.Platform = "other.example"
	if _, err := ev.SubmitSignedBatch(ctx, client.SignedBatchToPB(other)); status.Code(err) != codes.PermissionDenied || reasonOf(err) != "NOT_OWN_PLATFORM" {
		t.Fatalf("another platform's batch: %v", err)
	}
	// A signature of another header: the whole batch refused.
	bad := c.signedBatch(t, "bad-sig", 3)
	bad.Header.BatchID = "renamed"
	if _, err := ev.SubmitSignedBatch(ctx, client.SignedBatchToPB(bad)); status.Code(err) != codes.InvalidArgument || reasonOf(err) != "SIGNATURE_INVALID" {
		t.Fatalf("bad batch signature: %v", err)
	}
	// No header.
	req := client.SignedBatchToPB(c.signedBatch(t, "no-header", 1))
	req.Header = nil
	if _, err := ev.SubmitSignedBatch(ctx, req); status.Code(err) != codes.InvalidArgument || reasonOf(err) != "MISSING_FIELD" {
		t.Fatalf("no header: %v", err)
	}
	if size := c.leader().ledger.Size(); size != 4 {
		t.Fatalf("ledger has %d entries, want the 4 of the one good batch", size)
	}
}

// Whatever JSON reaches POST /v1/evidence:signedBatch, the court answers
// with a client error and records nothing: no signature of a fuzzed batch
// verifies.
func FuzzRESTSubmitSignedBatchJSON(f *testing.F) {
	c := registeredF(f)
	base := "https://" + c.nodes[0].HTTPAddr()
	rc := newREST(c.ca, tokenFor(access.RolePlatform))
	for _, s := range []string{`{}`, `{"header":{}}`, `{"header":{"court":"` + testCourt + `","platform":"esign.example","batchId":"b","count":1,"root":"AAAA"},"signature":"AAAA","submissions":[{"submission":{"platform":"esign.example"},"path":["AAAA"]}]}`,
		`{"header":{"signedAt":"2020-01-01T00:00:00Z","count":4294967295},"submissions":[]}`, `[`, `null`, `{"submissions":[{}]}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		hr, err := rc.Post(base+"/v1/evidence:signedBatch", "", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(hr.Body)
		hr.Body.Close()
		if hr.StatusCode >= 500 || hr.StatusCode == http.StatusOK {
			t.Fatalf("%q: %d %s", body, hr.StatusCode, b)
		}
	})
	if size := c.nodes[0].ledger.Size(); size != 0 {
		f.Fatalf("fuzzed JSON recorded %d entries", size)
	}
}
