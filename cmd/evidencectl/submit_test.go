package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/courtledger/courtledger/crypto/checkpoint"
	"github.com/courtledger/courtledger/crypto/sm2"
	"github.com/courtledger/courtledger/evidence/certificate"
)

func mkFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// submitJSON runs submit --json as the platform and decodes its result.
func submitJSON(t *testing.T, c oneCourt, args ...string) (submitResult, string, error) {
	t.Helper()
	args = append([]string{"submit", "--server", c.addr, "--trust", c.trust, "--platform", "esign.example", "--key", c.keyFile, "--json"}, args...)
	out, errs, err := as(t, "tok-platform", args...)
	var res submitResult
	if jerr := json.Unmarshal([]byte(out), &res); jerr != nil {
		t.Fatalf("submit --json printed no result (%v): %v\n%s%s", jerr, err, out, errs)
	}
	return res, errs, err
}

func titles(vs []receiptView) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.Title)
	}
	slices.Sort(out)
	return out
}

// Nothing is silently not filed: a symlink named is followed to its file;
// in a directory, symlinks are followed and loops refused, what is skipped
// is said with why (stderr and --json), titles keep the path inside the
// directory, and filing nothing is a failure.
func TestSubmitSaysWhatIsNotFiled(t *testing.T) {
	c := startOneNodeCourt(t, []byte("seed"))
	dir := t.TempDir()
	mkFile(t, filepath.Join(dir, "outside.txt"), "named through a symlink")
	link := filepath.Join(dir, "link.txt")
	os.Symlink(filepath.Join(dir, "outside.txt"), link)

	res, _, err := submitJSON(t, c, link)
	if err != nil || len(res.Filed) != 1 || res.Filed[0].Title != "link.txt" {
		t.Fatalf("submit of a symlink to a file: %v, %+v", err, res)
	}

	empty := filepath.Join(dir, "empty")
	os.Mkdir(empty, 0o755)
	res, errs, err := submitJSON(t, c, empty)
	if code, _ := exitCode(err); code != exitError || len(res.Filed) != 0 || len(res.Skipped) != 1 || !strings.Contains(errs, "empty directory") {
		t.Fatalf("submit of an empty directory: exit %d (%v), %+v, stderr %q", code, err, res, errs)
	}

	tree := filepath.Join(dir, "tree")
	mkFile(t, filepath.Join(tree, "sub", "a.txt"), "a")
	mkFile(t, filepath.Join(tree, "b.txt"), "b")
	os.Symlink(filepath.Join(tree, "b.txt"), filepath.Join(tree, "sub", "to-b.txt"))
	os.Symlink(filepath.Join(dir, "outside.txt"), filepath.Join(tree, "outside-link.txt"))
	os.Symlink(tree, filepath.Join(tree, "sub", "loop"))
	os.Symlink(filepath.Join(dir, "missing"), filepath.Join(tree, "dangling"))
	syscall.Mkfifo(filepath.Join(tree, "fifo"), 0o644)
	res, errs, err = submitJSON(t, c, tree)
	if err != nil {
		t.Fatalf("submit of a directory: %v\n%s", err, errs)
	}
	// The two symlinks are of files filed already (b.txt a moment before,
	// outside.txt as link.txt): their receipts are the originals.
	var fresh, dup []receiptView
	for _, v := range res.Filed {
		if v.Duplicate {
			dup = append(dup, v)
		} else {
			fresh = append(fresh, v)
		}
	}
	if got, want := titles(fresh), []string{"b.txt", "sub/a.txt"}; !slices.Equal(got, want) || len(dup) != 2 {
		t.Errorf("titles %v and %d originals, want %v and 2", got, len(dup), want)
	}
	why := map[string]string{}
	for _, s := range res.Skipped {
		why[filepath.Base(s.Path)] = s.Reason
		if !strings.Contains(errs, "skipped "+s.Path+": "+s.Reason) {
			t.Errorf("stderr does not say %s was skipped:\n%s", s.Path, errs)
		}
	}
	for name, reason := range map[string]string{"loop": "symlink loop", "dangling": "symlink to nothing", "fifo": "not a regular file"} {
		if !strings.Contains(why[name], reason) {
			t.Errorf("skipped %s: %q, want %q", name, why[name], reason)
		}
	}
}

// Honest results: evidence filed whose receipt does not verify against the
// trust file is reported with its ID and exit code 9; a directory that
// fails part way lists what was filed and what was not.
func TestSubmitReportsWhatWasFiled(t *testing.T) {
	c := startOneNodeCourt(t, []byte("seed"))
	dir := t.TempDir()
	file := filepath.Join(dir, "one.txt")
	mkFile(t, file, "one")

	k, _ := sm2.GenerateKey()
	wrong, _ := checkpoint.NewSigner(certTestCourt, k) // the court's name, another key
	wrongTrust := filepath.Join(dir, "wrong-trust.txt")
	mkFile(t, wrongTrust, wrong.Verifier().String()+"\n")
	out, _, err := as(t, "tok-platform", "submit", file, "--server", c.addr, "--trust", wrongTrust, "--platform", "esign.example", "--key", c.keyFile)
	if code, _ := exitCode(err); code != exitUnverified || !errors.Is(err, errUnverified) {
		t.Fatalf("exit %d (%v), want %d", code, err, exitUnverified)
	}
	if !strings.Contains(out, "filed, but the receipt did not verify against your trust file") {
		t.Fatalf("output does not say the evidence was filed:\n%s", out)
	}
	// The ID printed is the evidence's: it verifies with the right trust.
	id := strings.Fields(out[strings.Index(out, "evidence ")+len("evidence "):])[0]
	if _, _, err := as(t, "tok-judge", "get", id, "--server", c.addr, "--trust", c.trust); err != nil {
		t.Fatalf("get %s (the ID submit printed): %v", id, err)
	}

	part := filepath.Join(dir, "part")
	mkFile(t, filepath.Join(part, "1.txt"), "first")
	mkFile(t, filepath.Join(part, "2.txt"), "second")
	// One request ID for two different files: the court takes the first
	// and refuses the second.
	res, _, err := submitJSON(t, c, "--request-id", "same-id", part)
	if code, _ := exitCode(err); code != exitError || len(res.Filed) != 1 || len(res.Failed) != 1 || res.Filed[0].Title != "1.txt" ||
		!strings.HasSuffix(res.Failed[0].Path, "2.txt") || !strings.Contains(res.Failed[0].Error, "AlreadyExists") {
		t.Fatalf("partly filed directory: exit %d (%v), %+v", code, err, res)
	}
}

// The decision documented in docs/api.md: a revoked platform that files
// again what it filed while valid (same request ID) gets the original
// receipt and records nothing; anything new is refused.
func TestRevokedPlatformRetryGetsOriginalReceipt(t *testing.T) {
	c := startOneNodeCourt(t, []byte("seed"))
	dir := t.TempDir()
	before, after := filepath.Join(dir, "before.txt"), filepath.Join(dir, "after.txt")
	mkFile(t, before, "filed while valid")
	mkFile(t, after, "filed after revocation")
	first, _, err := submitJSON(t, c, before)
	if err != nil || len(first.Filed) != 1 {
		t.Fatalf("submit: %v %+v", err, first)
	}
	if _, _, err := as(t, "tok-admin", "platform", "revoke", "esign.example", "--server", c.addr); err != nil {
		t.Fatal(err)
	}
	again, _, err := submitJSON(t, c, before)
	if err != nil || len(again.Filed) != 1 || !again.Filed[0].Duplicate || again.Filed[0].EvidenceID != first.Filed[0].EvidenceID {
		t.Fatalf("retry by the revoked platform: %v %+v", err, again)
	}
	refused, _, err := submitJSON(t, c, after)
	if code, _ := exitCode(err); code != exitError || len(refused.Failed) != 1 || !strings.Contains(refused.Failed[0].Error, "PermissionDenied") {
		t.Fatalf("a new submission by the revoked platform: exit %d (%v) %+v", code, err, refused)
	}
}

// A directory is filed in signed batches of up to --batch files: every file
// gets its own verified receipt naming its batch, a second file of the same
// content is filed alone (its original receipt), filing again returns the
// same receipts, and a certificate of a batch-filed entry verifies offline.
func TestSubmitDirectoryInBatches(t *testing.T) {
	c := startOneNodeCourt(t, []byte("seed"))
	dir := t.TempDir()
	for i := range 5 {
		mkFile(t, filepath.Join(dir, fmt.Sprintf("f%d.txt", i)), fmt.Sprintf("file %d", i))
	}
	mkFile(t, filepath.Join(dir, "z-copy.txt"), "file 0")
	res, errs, err := submitJSON(t, c, "--batch", "2", dir)
	if err != nil || len(res.Filed) != 6 {
		t.Fatalf("submit --batch 2: %v, %+v\n%s", err, res, errs)
	}
	batches := map[string]int{}
	for _, v := range res.Filed {
		if v.Batch == nil {
			t.Fatalf("%s: not filed in a batch", v.Title)
		}
		if v.Title == "z-copy.txt" {
			t.Fatalf("the copy was recorded as its own evidence: %+v", v)
		}
		if !v.Duplicate {
			batches[v.Batch.BatchID]++
			if v.Batch.Count > 2 {
				t.Fatalf("%s in a batch of %d, at most 2", v.Title, v.Batch.Count)
			}
		}
	}
	if len(batches) != 3 {
		t.Fatalf("%d batches %v, want 3 (2+2+1)", len(batches), batches)
	}
	again, _, err := submitJSON(t, c, "--batch", "2", dir)
	if err != nil || len(again.Filed) != 6 {
		t.Fatalf("submit again: %v, %+v", err, again)
	}
	for _, v := range again.Filed {
		if !v.Duplicate {
			t.Fatalf("%s filed a second time", v.Title)
		}
	}

	id := res.Filed[0].EvidenceID
	certJSON := filepath.Join(t.TempDir(), "c.json")
	if out, err := run(t, "cert", "get", id, "--server", c.addr, "--trust", c.trust, "--out-json", certJSON); err != nil {
		t.Fatalf("cert get: %v\n%s", err, out)
	}
	out, err := run(t, "cert", "verify", certJSON, "--trust", c.trust)
	wantVerdict(t, err, certificate.Valid, 0)
	if !strings.Contains(out, "batch       "+res.Filed[0].Batch.BatchID) {
		t.Fatalf("cert verify does not name the batch:\n%s", out)
	}

	for _, n := range []string{"0", "1025"} {
		_, _, err := as(t, "tok-platform", "submit", "--server", c.addr, "--trust", c.trust, "--platform", "esign.example", "--key", c.keyFile, "--batch", n, dir)
		if !errors.Is(err, errUsage) {
			t.Fatalf("--batch %s: %v, want a usage error", n, err)
		}
	}
}
