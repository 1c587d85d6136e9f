package main

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/courtledger/courtledger/crypto/checkpoint"
	"github.com/courtledger/courtledger/crypto/merkle"
	"github.com/courtledger/courtledger/crypto/sm2"
	"github.com/courtledger/courtledger/crypto/sm3"
	"github.com/courtledger/courtledger/evidence"
)

//go:embed samples
var samples embed.FS

const demoCourt = "hangzhou.court.example/evidence"

type demoFile struct {
	name string
	data []byte
}

// demoStep is one line of the walkthrough's report.
type demoStep struct {
	Step   string `json:"step"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

func demoCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "demo [FILE...]",
		Short: "Walk through filing and verifying evidence on a local in-memory court log",
		Long: `demo runs the whole path of a piece of evidence on one machine, in memory:
a platform fingerprints files (the embedded samples, or FILE...) and signs
submissions with its SM2 key; a court checks them, appends them to its SM3
Merkle log and signs a tree head; then each receipt is verified as a judge
would, a tampered receipt and an altered file are shown to fail, and a
consistency proof shows the log only grew. Nothing is written to disk.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			files, err := demoFiles(args)
			if err != nil {
				return err
			}
			steps, err := runDemo(files)
			out := cmd.OutOrStdout()
			if jsonOutput(cmd) {
				if jerr := json.NewEncoder(out).Encode(steps); jerr != nil {
					return jerr
				}
			} else {
				for _, s := range steps {
					mark := "ok  "
					if !s.OK {
						mark = "FAIL"
					}
					fmt.Fprintf(out, "[%s] %-34s %s\n", mark, s.Step, s.Detail)
				}
			}
			return err
		},
	}
}

func demoFiles(args []string) ([]demoFile, error) {
	var files []demoFile
	if len(args) == 0 {
		err := fs.WalkDir(samples, "samples", func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := samples.ReadFile(path)
			files = append(files, demoFile{filepath.Base(path), b})
			return err
		})
		return files, err
	}
	for _, name := range args {
		b, err := os.ReadFile(name)
		if err != nil {
			return nil, err
		}
		files = append(files, demoFile{name, b})
	}
	return files, nil
}

// runDemo returns every step it took; the error is the first check that
// failed, which the report also shows.
func runDemo(files []demoFile) ([]demoStep, error) {
	var steps []demoStep
	var failed error
	step := func(name string, err error, format string, args ...any) bool {
		s := demoStep{Step: name, OK: err == nil, Detail: fmt.Sprintf(format, args...)}
		if err != nil {
			s.Detail += ": " + err.Error()
			if failed == nil {
				failed = fmt.Errorf("%s: %w", name, err)
			}
		}
		steps = append(steps, s)
		return err == nil
	}
	// expectReject records a check that must fail; passing it is the error.
	expectReject := func(name string, err error, what string) {
		if err == nil {
			step(name, errors.New("was accepted"), "%s", what)
			return
		}
		step(name, nil, "%s rejected: %v", what, err)
	}

	courtKey, err := sm2.GenerateKey()
	if !step("court key", err, "SM2 key for %s", demoCourt) {
		return steps, failed
	}
	court, err := checkpoint.NewSigner(demoCourt, courtKey)
	if !step("court verifier key", err, "%s", court.Verifier()) {
		return steps, failed
	}
	platformKey, err := sm2.GenerateKey()
	if !step("platform key", err, "SM2 key for platform esign.example") {
		return steps, failed
	}

	now := time.Now()
	log := merkle.NewMemStore()
	var entries []evidence.Entry
	for i, f := range files {
		fp := sm3.Sum(f.data)
		sub := evidence.Submission{
			Court:       demoCourt,
			Platform:    "esign.example",
			RequestID:   fmt.Sprintf("demo-%d-%d", now.UnixMilli(), i),
			Fingerprint: fp,
			Category:    evidence.CategoryDocument,
			Title:       f.name,
			Metadata:    map[string]string{"source": "evidencectl-demo"},
			SignedAt:    now,
		}
		sig, err := sub.Sign(platformKey)
		if !step("platform signs submission", err, "%s sm3=%x", f.name, fp) {
			return steps, failed
		}
		// The court checks format, clock and signature before accepting.
		if !step("court checks submission", evidence.Check(&sub, sig, platformKey.Public(), demoCourt, time.Now(), evidence.TimePolicy{}),
			"%s", f.name) {
			return steps, failed
		}
		e := evidence.NewEntry(demoCourt, log.Size(), time.Now(), sub, sig)
		log.AppendLeaf(e.Marshal())
		entries = append(entries, e)
		step("court appends entry", nil, "index %d, evidence ID %s", e.Index, e.EvidenceID)
	}
	if len(entries) == 0 {
		step("files", errors.New("no files"), "nothing to file")
		return steps, failed
	}

	ctx := context.Background()
	firstRoot, err := merkle.Root(ctx, log, 1)
	if !step("court recomputes root of size 1", err, "%x", firstRoot) {
		return steps, failed
	}
	firstHead, err := checkpoint.Sign(checkpoint.TreeHead{Origin: demoCourt, Size: 1, Root: firstRoot, Time: time.Now()}, court)
	if !step("court signs head of size 1", err, "as it did after the first batch") {
		return steps, failed
	}
	head := checkpoint.TreeHead{Origin: demoCourt, Size: log.Size(), Root: log.Root(), Time: time.Now()}
	signed, err := checkpoint.Sign(head, court)
	if !step("court signs tree head", err, "size %d root %x", head.Size, head.Root) {
		return steps, failed
	}

	var receipts []evidence.Receipt
	for _, e := range entries {
		p, err := merkle.Inclusion(ctx, log, e.Index, log.Size())
		if !step("court builds receipt", err, "index %d, %d proof hashes", e.Index, len(p)) {
			return steps, failed
		}
		r := evidence.Receipt{Entry: e, Proof: p, SignedHead: signed}
		receipts = append(receipts, r)
		_, err = r.Verify(court.Verifier())
		step("judge verifies receipt", err, "%s (index %d) is in the log under the court's signed head", e.EvidenceID, e.Index)
	}

	// A judge hashes the file produced at trial and compares.
	f := files[0]
	trial := sm3.Sum(f.data)
	step("judge matches file at trial", matchErr(trial, entries[0].Submission.Fingerprint), "%s", f.name)
	altered := append(bytes.Clone(f.data), ' ')
	expectReject("judge matches altered file", matchErr(sm3.Sum(altered), entries[0].Submission.Fingerprint), "one byte appended to "+f.name)

	tampered := receipts[0]
	tampered.Entry.Submission.Title += " (edited)"
	_, err = tampered.Verify(court.Verifier())
	expectReject("judge verifies tampered receipt", err, "receipt with an edited title")

	other, _ := sm2.GenerateKey()
	impostor, _ := checkpoint.NewSigner(demoCourt, other)
	_, err = receipts[0].Verify(impostor.Verifier())
	expectReject("verify under an impostor's key", err, "head checked against another key")

	cp, err := merkle.Consistency(ctx, log, 1, log.Size())
	if step("court proves log only grew", err, "consistency proof 1 -> %d", log.Size()) {
		first, _, err := checkpoint.Open(firstHead, court.Verifier())
		if err == nil {
			err = merkle.VerifyConsistency(first.Size, head.Size, cp, first.Root, head.Root)
		}
		step("auditor verifies consistency", err, "head of size %d extends head of size 1", head.Size)
	}
	return steps, failed
}

func matchErr(got, want sm3.Digest) error {
	if got != want {
		return fmt.Errorf("fingerprint %x differs from recorded %x", got, want)
	}
	return nil
}
