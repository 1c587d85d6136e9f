package court

import (
	"fmt"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/courtledger/courtledger/consensus"
)

// What the API says is for people: the code and reason of each layer's
// error, and a message without the Go package prefixes it collected on
// the way (issue 13, item 7).
func TestProblemMessagesForPeople(t *testing.T) {
	for _, tc := range []struct {
		err    error
		code   codes.Code
		reason string
		msg    string
	}{
		{fmt.Errorf("platform %q: %w", "esign.example", consensus.ErrUnknownPlatform), codes.PermissionDenied, "PLATFORM_NOT_REGISTERED",
			`platform "esign.example": platform not registered or revoked`},
		{fmt.Errorf("evidence 00ff: %w", consensus.ErrNotFound), codes.NotFound, "NOT_FOUND", "evidence 00ff: not found"},
		{&consensus.NotLeaderError{}, codes.Unavailable, "NOT_LEADER", "unavailable, not leader and no leader known"},
		{consensus.ErrEmpty, codes.NotFound, "LEDGER_EMPTY", "ledger has no entries yet"},
	} {
		p := problemOf(tc.err)
		if p.Code != tc.code || p.Reason != tc.reason {
			t.Errorf("%v: %v %s, want %v %s", tc.err, p.Code, p.Reason, tc.code, tc.reason)
		}
		for _, prefix := range []string{"consensus: ", "court: ", "evidence: "} {
			if strings.Contains(p.Message, prefix) {
				t.Errorf("%v: message %q carries the package prefix %q", tc.err, p.Message, prefix)
			}
		}
		if tc.msg != "" && p.Message != tc.msg {
			t.Errorf("%v: message %q, want %q", tc.err, p.Message, tc.msg)
		}
	}
}
