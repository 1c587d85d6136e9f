package evidence

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/courtledger/courtledger/crypto/checkpoint"
	"github.com/courtledger/courtledger/crypto/merkle"
	"github.com/courtledger/courtledger/crypto/sm2"
	"github.com/courtledger/courtledger/crypto/sm3"
)

// The worked example of batch-signed filing in docs/formats.md: the two
// version 2 submissions of the worked example, signed as one batch and
// recorded as entries 0 and 1 of the court's log. Regenerate the stored
// signatures with
//
//	go test ./evidence -run TestWorkedExampleBatch -update
func TestWorkedExampleBatch(t *testing.T) {
	platformKey, err := sm2.ParsePrivateKeyPEM(readFile(t, "platform_key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	platformPub, err := sm2.ParsePublicKeyPEM(readFile(t, "platform_pub.pem"))
	if err != nil {
		t.Fatal(err)
	}
	courtKey, err := sm2.ParsePrivateKeyPEM(readFile(t, "court_key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	courtSigner, err := checkpoint.NewSigner(wexCourt, courtKey)
	if err != nil {
		t.Fatal(err)
	}

	subs := wexSubmissions(2)
	header := BatchHeader{Court: wexCourt, Platform: "esign.example", BatchID: "batch-0001",
		SignedAt: time.Date(2026, 11, 25, 8, 0, 2, 0, time.UTC)}
	if err := CheckBatchSubmissions(wexCourt, "esign.example", subs); err != nil {
		t.Fatal(err)
	}
	tree := merkle.NewMemStore()
	for i := range subs {
		tree.AppendLeaf(subs[i].Marshal())
	}
	header.Count, header.Root = 2, tree.Root()
	if *update {
		sig, err := header.Sign(platformKey)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, "batch.sig", sig)
	}
	sig := readFile(t, "batch.sig")
	if err := header.VerifySignature(sig, platformPub); err != nil {
		t.Fatalf("stored batch signature: %v", err)
	}

	store := merkle.NewMemStore()
	var entries []Entry
	for i := range subs {
		path, err := merkle.Inclusion(context.Background(), tree, uint64(i), 2)
		if err != nil {
			t.Fatal(err)
		}
		e := NewBatchEntry(wexCourt, uint64(i), wexAcceptedAt(i), subs[i], BatchFiling{Header: header, Signature: sig, Leaf: uint32(i), Path: path})
		if err := e.Validate(); err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
		entries = append(entries, e)
		store.AppendLeaf(e.Marshal())
	}
	head := checkpoint.TreeHead{Origin: wexCourt, Size: store.Size(), Root: store.Root(), Time: wexHeadTime}
	if *update {
		signed, err := checkpoint.Sign(head, courtSigner)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, "head_batch.note", signed)
	}
	signedHead := readFile(t, "head_batch.note")
	proof, err := merkle.Inclusion(context.Background(), store, 0, 2)
	if err != nil {
		t.Fatal(err)
	}
	r := Receipt{Entry: entries[0], Proof: proof, SignedHead: signedHead}
	if _, err := r.Verify(courtSigner.Verifier()); err != nil {
		t.Fatalf("receipt of the batch example: %v", err)
	}
	if err := r.Entry.VerifySignature(platformPub); err != nil {
		t.Fatal(err)
	}

	dump := wexBatchDump(t, subs, header, sig, entries, signedHead)
	if *update {
		writeFile(t, "example_batch.md", []byte(dump))
	}
	if want := string(readFile(t, "example_batch.md")); dump != want {
		t.Fatalf("batch worked example changed; regenerate with -update and update docs/formats.md.\ngot:\n%s", dump)
	}
	doc, err := os.ReadFile("../docs/formats.md")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(doc, []byte(dump)) {
		t.Fatalf("docs/formats.md does not contain %s/example_batch.md verbatim; paste it in", wexDir)
	}
	wexOpenSSL(t, header.Marshal(), sig, signedHead)
}

// wexBatchDump writes the example by hand from the documented layout and
// checks the package's encoding against it.
func wexBatchDump(t *testing.T, subs []Submission, h BatchHeader, sig []byte, entries []Entry, signedHead []byte) string {
	t.Helper()
	sub0 := joinHex(submissionFields(subs[0]))
	sub1 := hex.EncodeToString(subs[1].Marshal())
	s0, _ := hex.DecodeString(sub0)
	s1, _ := hex.DecodeString(sub1)
	bleaf0 := sm3.Sum(append([]byte{0}, s0...))
	bleaf1 := sm3.Sum(append([]byte{0}, s1...))
	broot := sm3.Sum(append(append([]byte{1}, bleaf0[:]...), bleaf1[:]...))

	hf := []field{
		lp("tag", []byte("evidence-batch/v1")),
		lp("court", []byte(h.Court)),
		lp("platform", []byte(h.Platform)),
		lp("batch ID", []byte(h.BatchID)),
		u64f("signed-at (ms)", uint64(h.SignedAt.UnixMilli())),
		{"count", fmt.Sprintf("%08x", h.Count)},
		lp("root", broot[:]),
	}
	headerHex := joinHex(hf)
	if got := hex.EncodeToString(h.Marshal()); got != headerHex {
		t.Fatalf("BatchHeader.Marshal differs from the documented layout:\n got %s\nwant %s", got, headerHex)
	}
	headerBytes, _ := hex.DecodeString(headerHex)

	e := entries[0]
	ef := []field{
		lp("tag", []byte("evidence-entry/v2")),
		lp("court", []byte(e.Court)),
		u64f("index", e.Index),
		lp("evidence ID", []byte(e.EvidenceID)),
		u64f("accepted-at (ms)", uint64(e.AcceptedAt.UnixMilli())),
		{"submission", fmt.Sprintf("%08x <the %d bytes of submission 0>", len(s0), len(s0))},
		{"batch header", fmt.Sprintf("%08x <the %d batch header bytes above>", len(headerBytes), len(headerBytes))},
		lp("batch signature", sig),
		{"leaf", "00000000"},
		lp("path", bleaf1[:]),
	}
	entryHex := joinHex(ef[:5]) + fmt.Sprintf("%08x", len(s0)) + sub0 +
		fmt.Sprintf("%08x", len(headerBytes)) + headerHex + joinHex(ef[7:])
	if got := hex.EncodeToString(e.Marshal()); got != entryHex {
		t.Fatalf("entry Marshal differs from the documented layout:\n got %s\nwant %s", got, entryHex)
	}
	entryBytes, _ := hex.DecodeString(entryHex)
	leaf0 := sm3.Sum(append([]byte{0}, entryBytes...))
	leaf1 := sm3.Sum(append([]byte{0}, entries[1].Marshal()...))
	root := sm3.Sum(append(append([]byte{1}, leaf0[:]...), leaf1[:]...))
	if base64.StdEncoding.EncodeToString(root[:]) != strings.Split(string(signedHead), "\n")[2] {
		t.Fatal("signed head's root differs from the computed root")
	}

	var b strings.Builder
	fmt.Fprintf(&b, "The batch tree's leaves are the two version 2 submissions above, their bytes as signed alone:\n\n```\n")
	fmt.Fprintf(&b, "leaf 0 = SM3(00 || submission 0)     = %x\n", bleaf0)
	fmt.Fprintf(&b, "leaf 1 = SM3(00 || submission 1)     = %x\n", bleaf1)
	fmt.Fprintf(&b, "root   = SM3(01 || leaf 0 || leaf 1) = %x\n```\n\n", broot)
	fmt.Fprintf(&b, "The batch header (%d bytes), as the platform signs it:\n\n```\n%s```\n\n", len(headerBytes), table(hf))
	fmt.Fprintf(&b, "Its hex, in one line:\n\n```\n%s\n```\n\n", headerHex)
	fmt.Fprintf(&b, "The platform's SM2 signature over those bytes (DER, hex), its only signature for the batch:\n\n```\n%s\n```\n\n", hex.EncodeToString(sig))
	fmt.Fprintf(&b, "Entry 0 (%d bytes), submission 0 as the court records it, the data of leaf 0 of its log:\n\n```\n%s```\n\n", len(entryBytes), table(ef))
	fmt.Fprintf(&b, "Its hex, in one line:\n\n```\n%s\n```\n\n", entryHex)
	fmt.Fprintf(&b, "Entry 1 is submission 1 at leaf 1, with path `[leaf 0 of the batch]`. Leaf hashes and root of the court's two-entry log:\n\n```\n")
	fmt.Fprintf(&b, "leaf 0 = SM3(00 || entry 0)        = %x\n", leaf0)
	fmt.Fprintf(&b, "leaf 1 = SM3(00 || entry 1)        = %x\n", leaf1)
	fmt.Fprintf(&b, "root   = SM3(01 || leaf 0 || leaf 1) = %x\n```\n\n", root)
	fmt.Fprintf(&b, "The court's signed tree head:\n\n```\n%s```\n", signedHead)
	return b.String()
}
