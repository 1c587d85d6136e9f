package certificate

import (
	"context"
	"encoding/base64"
	"fmt"
	"testing"
	"time"

	"github.com/courtledger/courtledger/crypto/checkpoint"
	"github.com/courtledger/courtledger/crypto/merkle"
	"github.com/courtledger/courtledger/crypto/sm2"
	"github.com/courtledger/courtledger/crypto/sm3"
	"github.com/courtledger/courtledger/evidence"
)

const (
	hangzhou  = "hangzhou.court.example/evidence"
	beijing   = "beijing.court.example/evidence"
	guangzhou = "guangzhou.court.example/evidence"
)

// testLog is one court's log in memory, with its key and the keys of the
// courts that witness it.
type testLog struct {
	court     *checkpoint.Signer
	witnesses []*checkpoint.Cosigner
	wkeys     []*sm2.PrivateKey
	store     *merkle.MemStore
	entries   [][]byte
	files     [][]byte
	headTime  time.Time
	// issuer is Beijing's key, which signs the certificates (a witness's
	// key if Beijing is one); platform filed every entry, registered at
	// Hangzhou at registeredAt.
	issuer       *sm2.PrivateKey
	platform     *sm2.PrivateKey
	registeredAt time.Time
}

func newTestLog(t testing.TB, n int, witnesses ...string) *testLog {
	t.Helper()
	key, err := sm2.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	signer, err := checkpoint.NewSigner(hangzhou, key)
	if err != nil {
		t.Fatal(err)
	}
	platform, _ := sm2.GenerateKey()
	l := &testLog{court: signer, store: merkle.NewMemStore(), headTime: time.Date(2026, 11, 25, 8, 0, 5, 0, time.UTC), platform: platform}
	l.registeredAt = l.headTime.Add(-30 * 24 * time.Hour)
	for _, w := range witnesses {
		wk, _ := sm2.GenerateKey()
		c, err := checkpoint.NewCosigner(w, wk, func() time.Time { return l.headTime.Add(time.Minute) })
		if err != nil {
			t.Fatal(err)
		}
		l.witnesses = append(l.witnesses, c)
		l.wkeys = append(l.wkeys, wk)
		if w == beijing {
			l.issuer = wk
		}
	}
	if l.issuer == nil {
		l.issuer, _ = sm2.GenerateKey()
	}
	for i := 0; i < n; i++ {
		file := []byte(fmt.Sprintf("contract number %d, signed by both parties", i))
		s := evidence.Submission{Court: hangzhou, Platform: "esign.example", RequestID: fmt.Sprintf("req-%d", i),
			Fingerprint: sm3.Sum(file), Category: evidence.CategoryContract, Title: "房屋租赁合同",
			SignedAt: l.headTime.Add(-time.Minute)}
		sig, err := s.Sign(platform)
		if err != nil {
			t.Fatal(err)
		}
		e := evidence.NewEntry(hangzhou, uint64(i), l.headTime.Add(-time.Second), s, sig)
		b := e.Marshal()
		l.store.AppendLeaf(b)
		l.entries = append(l.entries, b)
		l.files = append(l.files, file)
	}
	return l
}

// head signs the head of the first size entries, cosigned by the log's
// witnesses if cosign is set.
func (l *testLog) head(t testing.TB, size uint64, cosign bool) []byte {
	t.Helper()
	root, err := merkle.Root(context.Background(), l.store, size)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := checkpoint.Sign(checkpoint.TreeHead{Origin: hangzhou, Size: size, Root: root, Time: l.headTime}, l.court)
	if err != nil {
		t.Fatal(err)
	}
	if !cosign {
		return signed
	}
	var lines [][]byte
	for _, w := range l.witnesses {
		line, err := checkpoint.Cosign(signed, w)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, line)
	}
	signed, err = checkpoint.WithSignatures(signed, lines...)
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

func (l *testLog) input(t testing.TB, index int, cosign bool) Input {
	t.Helper()
	size := l.store.Size()
	proof, err := merkle.Inclusion(context.Background(), l.store, uint64(index), size)
	if err != nil {
		t.Fatal(err)
	}
	return Input{Entry: l.entries[index], Index: uint64(index), Proof: proof, SignedHead: l.head(t, size, cosign),
		IssuedBy: beijing, IssuedAt: l.headTime.Add(2 * time.Hour), Signer: l.issuer,
		PlatformKeyOf: func(court, platform string) (*PlatformKey, error) {
			if court != hangzhou || platform != "esign.example" {
				return nil, nil
			}
			return &PlatformKey{Court: hangzhou, RegisteredAt: l.registeredAt, Key: l.platform.Public()}, nil
		}}
}

// issuerVerifier is the trust file line of the certificates' issuer.
func (l *testLog) issuerVerifier(t testing.TB) *checkpoint.Verifier {
	t.Helper()
	v, err := checkpoint.NewVerifier(beijing, l.issuer.Public())
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// trustWithIssuer is trust(witnesses...) with the issuer's key as well.
func (l *testLog) trustWithIssuer(t testing.TB, witnesses ...int) *Trust {
	t.Helper()
	keys := []*checkpoint.Verifier{l.court.Verifier()}
	issuerListed := false
	for _, i := range witnesses {
		v, err := checkpoint.NewVerifier(l.witnesses[i].Name(), l.wkeys[i].Public())
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, v)
		issuerListed = issuerListed || l.wkeys[i] == l.issuer
	}
	if !issuerListed {
		keys = append(keys, l.issuerVerifier(t))
	}
	tr, err := NewTrust(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func (l *testLog) cert(t testing.TB, index int, cosign bool) *Certificate {
	t.Helper()
	c, err := Issue(l.input(t, index, cosign))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// trust returns a trust of the log's court and the witnesses numbered.
func (l *testLog) trust(t testing.TB, witnesses ...int) *Trust {
	t.Helper()
	keys := []*checkpoint.Verifier{l.court.Verifier()}
	for _, i := range witnesses {
		v, err := checkpoint.NewVerifier(l.witnesses[i].Name(), l.wkeys[i].Public())
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, v)
	}
	tr, err := NewTrust(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func (l *testLog) verifier(t testing.TB, witnesses ...int) *Verifier {
	t.Helper()
	v, err := NewVerifier(VerifierConfig{Trust: l.trust(t, witnesses...)})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func binaryKeyID(id uint32) []byte {
	return []byte{byte(id >> 24), byte(id >> 16), byte(id >> 8), byte(id)}
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
