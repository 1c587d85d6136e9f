package certificate

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/courtledger/courtledger/crypto/merkle"
	"github.com/courtledger/courtledger/crypto/sm2"
	"github.com/courtledger/courtledger/crypto/sm3"
	"github.com/courtledger/courtledger/evidence"
)

// newBatchLog is newTestLog with its n entries filed in one batch the
// platform signed once; sign, if set, signs the header instead of the
// platform's key (a court that recorded a batch the platform never signed).
func newBatchLog(t testing.TB, n int, sign func(h *evidence.BatchHeader) []byte) *testLog {
	t.Helper()
	l := newTestLog(t, 0)
	subs := make([]evidence.Submission, n)
	for i := range subs {
		file := []byte(fmt.Sprintf("contract number %d, filed in a batch", i))
		subs[i] = evidence.Submission{Court: hangzhou, Platform: "esign.example", RequestID: fmt.Sprintf("req-%d", i),
			Fingerprint: sm3.Sum(file), Category: evidence.CategoryContract, Title: "房屋租赁合同",
			SignedAt: l.headTime.Add(-time.Minute)}
		l.files = append(l.files, file)
	}
	b, err := evidence.SignBatch(l.platform, evidence.BatchHeader{Court: hangzhou, Platform: "esign.example", BatchID: "batch-2026-11-25",
		SignedAt: l.headTime.Add(-time.Minute)}, subs)
	if err != nil {
		t.Fatal(err)
	}
	if sign != nil {
		b.Signature = sign(&b.Header)
	}
	for i := range subs {
		e := evidence.NewBatchEntry(hangzhou, uint64(i), l.headTime.Add(-time.Second), subs[i], b.Filing(i))
		raw := e.Marshal()
		l.store.AppendLeaf(raw)
		l.entries = append(l.entries, raw)
	}
	return l
}

// A certificate of a batch-filed entry verifies offline: the platform's
// signature is the batch's, and the details name the batch.
func TestBatchCertificateVerifies(t *testing.T) {
	l := newBatchLog(t, 5, nil)
	c := l.cert(t, 3, false)
	if c.Entry.Batch == nil || c.Platform == nil {
		t.Fatalf("certificate of a batch-filed entry: batch %v, platform key stated %v", c.Entry.Batch, c.Platform)
	}
	v, err := NewVerifier(VerifierConfig{Trust: l.trustWithIssuer(t)})
	if err != nil {
		t.Fatal(err)
	}
	r := v.Verify(c.Marshal(), Policy{Fingerprint: fp(l.files[3])})
	if r.Verdict != Valid || !r.Details.PlatformSigned {
		t.Fatalf("%s (%s), platform signed %v", r.Verdict, r.Reason, r.Details.PlatformSigned)
	}
	if b := r.Details.Batch; b == nil || b.BatchID != "batch-2026-11-25" || b.Leaf != 3 || b.Count != 5 {
		t.Fatalf("batch details %+v", r.Details.Batch)
	}
}

// A court that records a batch under a signature the platform did not make
// cannot state the platform's key: the certificate proves the entry is in
// the log, not that the platform signed it.
func TestBatchCertificateBadSignature(t *testing.T) {
	other, _ := sm2.GenerateKey()
	l := newBatchLog(t, 4, func(h *evidence.BatchHeader) []byte {
		sig, err := h.Sign(other)
		if err != nil {
			t.Fatal(err)
		}
		return sig
	})
	c := l.cert(t, 1, false)
	if c.Platform != nil {
		t.Fatal("the issuer stated a platform key the batch signature does not verify under")
	}
	v, _ := NewVerifier(VerifierConfig{Trust: l.trustWithIssuer(t)})
	if r := v.Verify(c.Marshal(), Policy{}); r.Details.PlatformSigned {
		t.Fatalf("%s: platform signed", r.Verdict)
	}
	// Stating it anyway, under the issuer's own signature: INVALID PROOF.
	c.Platform = &PlatformKey{Court: hangzhou, RegisteredAt: l.registeredAt, Key: l.platform.Public()}
	var err error
	if c.IssuerSignature, err = l.issuer.Sign(c.SignedBytes()); err != nil {
		t.Fatal(err)
	}
	c.ID = c.computeID()
	if r := v.Verify(c.Marshal(), Policy{}); r.Verdict != InvalidProof || r.Details.PlatformSigned {
		t.Fatalf("%s (%s), platform signed %v; want INVALID PROOF", r.Verdict, r.Reason, r.Details.PlatformSigned)
	}
}

// Changing any byte of the batch header, signature, leaf index or path of
// the entry fails verification, even when the court and the issuer
// conspire: the log holds the changed entry, its head and the certificate
// are signed afresh, so only the batch checks can catch it.
func TestBatchCertificateAnyByteChanged(t *testing.T) {
	l := newBatchLog(t, 4, nil)
	const target = 2
	good := l.cert(t, target, false)
	v, _ := NewVerifier(VerifierConfig{Trust: l.trustWithIssuer(t)})
	raw := l.entries[target]
	start := bytes.Index(raw, []byte("evidence-batch/v1")) - 8 // bytes(header) begins here
	if start <= 0 {
		t.Fatal("no batch header in the entry")
	}
	for i := start; i < len(raw); i++ {
		changed := bytes.Clone(raw)
		changed[i] ^= 0x01
		store := merkle.NewMemStore()
		for j, e := range l.entries {
			if j == target {
				e = changed
			}
			store.AppendLeaf(e)
		}
		forged := l.reissue(t, good, store, changed)
		if r := v.Verify(forged, Policy{}); r.Verdict == Valid && r.Details.PlatformSigned {
			t.Fatalf("byte %d of the entry changed (batch part from %d): %s, platform signed", i, start, r.Verdict)
		}
	}
}

// reissue is good with entry bytes raw, in a log held by store, under a
// head the court signs and a certificate the issuer signs afresh.
func (l *testLog) reissue(t *testing.T, good *Certificate, store *merkle.MemStore, raw []byte) []byte {
	t.Helper()
	saved := l.store
	l.store = store
	defer func() { l.store = saved }()
	c := *good
	c.EntryBytes = raw
	c.SignedHead = l.head(t, store.Size(), false)
	var err error
	if c.Proof, err = merkle.Inclusion(t.Context(), store, c.Entry.Index, store.Size()); err != nil {
		t.Fatal(err)
	}
	if c.IssuerSignature, err = l.issuer.Sign(c.SignedBytes()); err != nil {
		t.Fatal(err)
	}
	c.ID = c.computeID()
	return c.Marshal()
}
