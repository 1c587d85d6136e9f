package court

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/courtledger/courtledger/consensus"
)

// A record that failed its integrity check on this node is Unavailable
// (another node serves it), with reason LEDGER_CORRUPT, and the message
// does not hand the node's file paths to callers.
func TestCorruptLedgerIsUnavailable(t *testing.T) {
	err := fmt.Errorf("get evidence: %w", &consensus.CorruptError{Path: "/var/lib/courtd/ledger.db", What: "entry 7", Err: errors.New("leaf mismatch")})
	p := problemOf(err)
	if p.Code != codes.Unavailable || p.Reason != "LEDGER_CORRUPT" {
		t.Fatalf("got %v %s, want Unavailable LEDGER_CORRUPT", p.Code, p.Reason)
	}
	if strings.Contains(p.Message, "/var/lib") {
		t.Fatalf("message %q names the node's file", p.Message)
	}
}
