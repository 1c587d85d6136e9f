package certpdf

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/courtledger/courtledger/crypto/checkpoint"
	"github.com/courtledger/courtledger/crypto/merkle"
	"github.com/courtledger/courtledger/crypto/sm2"
	"github.com/courtledger/courtledger/crypto/sm3"
	"github.com/courtledger/courtledger/evidence"
	"github.com/courtledger/courtledger/evidence/certificate"
)

// The certificate of a batch-filed entry says, on the page, which batch it
// was filed in and where.
func TestBatchFiledCertificateNamesItsBatch(t *testing.T) {
	if _, err := exec.LookPath("pdftotext"); err != nil {
		t.Skip("pdftotext not installed (apt-get install poppler-utils)")
	}
	at := time.Date(2026, 11, 25, 8, 0, 3, 250e6, time.UTC)
	platform, _ := sm2.GenerateKey()
	subs := make([]evidence.Submission, 3)
	for i := range subs {
		subs[i] = evidence.Submission{Court: hangzhou, Platform: "esign.example", RequestID: fmt.Sprintf("req-%d", i),
			Fingerprint: sm3.Sum([]byte(fmt.Sprint("file ", i))), Category: evidence.CategoryContract,
			Title: "房屋租赁合同", SignedAt: at.Add(-time.Minute)}
	}
	b, err := evidence.SignBatch(platform, evidence.BatchHeader{Court: hangzhou, Platform: "esign.example", BatchID: "batch-7", SignedAt: at.Add(-time.Minute)}, subs)
	if err != nil {
		t.Fatal(err)
	}
	store := merkle.NewMemStore()
	var entries [][]byte
	for i := range subs {
		e := evidence.NewBatchEntry(hangzhou, uint64(i), at, subs[i], b.Filing(i))
		entries = append(entries, e.Marshal())
		store.AppendLeaf(entries[i])
	}
	courtKey, _ := sm2.GenerateKey()
	court, _ := checkpoint.NewSigner(hangzhou, courtKey)
	signed, err := checkpoint.Sign(checkpoint.TreeHead{Origin: hangzhou, Size: 3, Root: store.Root(), Time: at}, court)
	if err != nil {
		t.Fatal(err)
	}
	proof, err := merkle.Inclusion(context.Background(), store, 1, 3)
	if err != nil {
		t.Fatal(err)
	}
	c, err := certificate.Issue(certificate.Input{Entry: entries[1], Index: 1, Proof: proof, SignedHead: signed,
		IssuedBy: hangzhou, IssuedAt: at.Add(time.Hour), Signer: courtKey})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "cert.pdf")
	if err := os.WriteFile(file, render(t, c), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("pdftotext", "-enc", "UTF-8", file, "-").CombinedOutput()
	if err != nil {
		t.Fatalf("pdftotext: %v\n%s", err, out)
	}
	text := strings.Join(strings.Fields(string(out)), " ")
	for _, want := range []string{"批次 batch-7 第 2 条（共 3 条）", "filed in batch batch-7, entry 2 of 3"} {
		if !strings.Contains(text, want) {
			t.Errorf("the PDF does not say %q:\n%s", want, text)
		}
	}
}
