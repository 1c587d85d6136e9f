package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/courtledger/courtledger/api/client"
	pb "github.com/courtledger/courtledger/api/gen/courtledger/v1"
)

// Evidence filed at Hangzhou is read, and verified, at every court: each
// read path checks a receipt or head against the key of the court that
// recorded it (Hangzhou, named by the entry and the head), not the key of
// the court that served it from its mirror. Then Hangzhou's first node
// stops, and every command given all its nodes still works.
func TestEveryReadPathVerifiesAtEveryCourt(t *testing.T) {
	nw := startNetwork(t)
	hz, bj, gz := nw.courts[hzCourt], nw.courts[bjCourt], nw.courts[gzCourt]
	dir := t.TempDir()
	file := filepath.Join(dir, "contract.txt")
	if err := os.WriteFile(file, []byte("甲方与乙方于 2026-12-01 签订合同。"), 0o644); err != nil {
		t.Fatal(err)
	}
	submit := func(server, path string) submitResult {
		t.Helper()
		out, errs, err := as(t, tokPlatform, "submit", path, "--server", server, "--platform", netPlatform, "--key", nw.platformKey, "--json")
		if err != nil {
			t.Fatalf("submit %s: %v\n%s%s", path, err, out, errs)
		}
		var res submitResult
		if err := json.Unmarshal([]byte(out), &res); err != nil || len(res.Filed) != 1 {
			t.Fatalf("submit --json: %v\n%s", err, out)
		}
		return res
	}
	filed := submit(hz.grpc(), file).Filed[0]
	id := filed.EvidenceID

	for _, c := range []*testCourt{bj, gz, hz} {
		srv := c.grpc()
		t.Run("at "+c.id, func(t *testing.T) {
			var got receiptView
			eventually(t, 30*time.Second, "get at "+c.id, func() error { // the mirror catches up
				out, errs, err := as(t, tokJudge, "get", id, "--server", srv, "--json")
				if err != nil {
					return fmt.Errorf("%v\n%s", err, errs)
				}
				return json.Unmarshal([]byte(out), &got)
			})
			if !got.Verified || got.Court != hzCourt || got.ServedBy != c.id || got.Mirrored != (c != hz) || got.Fingerprint != filed.Fingerprint {
				t.Fatalf("get at %s: %+v", c.id, got)
			}

			out, errs, err := as(t, tokJudge, "lookup", filed.Fingerprint, "--server", srv, "--json")
			var entries []lookupEntry
			if err != nil || json.Unmarshal([]byte(out), &entries) != nil || len(entries) != 1 || !entries[0].Verified || entries[0].EvidenceID != id {
				t.Fatalf("lookup at %s: %v\n%s%s", c.id, err, out, errs)
			}

			out, errs, err = as(t, tokJudge, "head", "--court", hzCourt, "--server", srv, "--json")
			var h headView
			if err != nil || json.Unmarshal([]byte(out), &h) != nil || !h.Verified || h.Court != hzCourt || h.Size <= filed.Index {
				t.Fatalf("head --court at %s: %v\n%s%s", c.id, err, out, errs)
			}
			out, errs, err = as(t, tokJudge, "proof", "inclusion", "--evidence-id", id, "--server", srv, "--json")
			var p inclusionView
			if err != nil || json.Unmarshal([]byte(out), &p) != nil || !p.Verified || p.Court != hzCourt || p.Index != filed.Index {
				t.Fatalf("proof inclusion --evidence-id at %s: %v\n%s%s", c.id, err, out, errs)
			}
			for _, args := range [][]string{
				{"proof", "inclusion", "--court", hzCourt, "--index", fmt.Sprint(filed.Index)},
				{"proof", "consistency", "--court", hzCourt, "--first", "1"},
				{"verify", file},
			} {
				if out, errs, err := as(t, tokJudge, append(args, "--server", srv)...); err != nil {
					t.Fatalf("%v at %s: %v\n%s%s", args, c.id, err, out, errs)
				}
			}
			certFile := filepath.Join(t.TempDir(), "cert.json")
			if out, errs, err := as(t, tokJudge, "cert", "get", id, "--server", srv, "--out-json", certFile); err != nil {
				t.Fatalf("cert get at %s: %v\n%s%s", c.id, err, out, errs)
			}
			_, _, err = as(t, "", "cert", "verify", certFile, "--file", file)
			wantVerdict(t, err, 0, 0)

			// The Go client, as a platform's code would read.
			cl := nw.client(t, c, tokJudge)
			resp, err := cl.Evidence().GetEvidence(context.Background(), &pb.GetEvidenceRequest{EvidenceId: id})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := cl.VerifyReceipt(resp.Receipt); err != nil {
				t.Fatalf("Go client at %s: %v", c.id, err)
			}

			// REST: the receipt verifies under the recording court's key.
			eventually(t, 10*time.Second, "REST receipt at "+c.id, func() error {
				var rest pb.Receipt
				if err := nw.restGet(c.nodes[0].HTTPAddr(), "/v1/evidence/"+id, &rest); err != nil {
					return err
				}
				_, err := client.VerifyReceipt(&rest, nw.verifiers[hzCourt]...)
				return err
			})
		})
	}

	// And the reverse: evidence filed at Beijing, read at Hangzhou and
	// Guangzhou, verifies with Beijing's key.
	atBJ := filepath.Join(dir, "beijing.txt")
	os.WriteFile(atBJ, []byte("北京互联网法院 存证"), 0o644)
	bjFiled := submit(bj.grpc(), atBJ).Filed[0]
	for _, c := range []*testCourt{hz, gz} {
		eventually(t, 30*time.Second, "Beijing's evidence at "+c.id, func() error {
			out, errs, err := as(t, tokJudge, "get", bjFiled.EvidenceID, "--server", c.grpc(), "--json")
			var got receiptView
			if err != nil || json.Unmarshal([]byte(out), &got) != nil {
				return fmt.Errorf("%v\n%s", err, errs)
			}
			if !got.Verified || got.Court != bjCourt || !got.Mirrored {
				return fmt.Errorf("%+v", got)
			}
			if _, _, err := as(t, tokJudge, "verify", atBJ, "--server", c.grpc()); err != nil {
				return err
			}
			_, _, err = as(t, tokJudge, "head", "--court", bjCourt, "--server", c.grpc())
			return err
		})
	}

	// Hangzhou's own head carries the cosignatures of the courts that
	// mirror it, as its receipts do, by gRPC and by REST.
	cl := nw.client(t, hz, tokJudge)
	eventually(t, 30*time.Second, "Hangzhou's head cosigned by Beijing and Guangzhou", func() error {
		out, _, err := as(t, tokJudge, "head", "--server", hz.grpc(), "--json")
		var h headView
		if err != nil || json.Unmarshal([]byte(out), &h) != nil {
			return fmt.Errorf("head: %v\n%s", err, out)
		}
		var rest pb.SignedTreeHead
		if err := nw.restGet(hz.nodes[0].HTTPAddr(), "/v1/tree-head", &rest); err != nil {
			return err
		}
		_, ws, err := cl.VerifyHead([]byte(rest.Note))
		if err != nil {
			return err
		}
		for _, w := range [][]string{h.Witnesses, ws} {
			if !slices.Equal(w, []string{bjCourt, gzCourt}) {
				return fmt.Errorf("witnesses %v (head %v, REST %v)", w, h.Witnesses, ws)
			}
		}
		return nil
	})

	// Failover: the first node given is down; every command goes on to
	// the others.
	hz.stop(0)
	servers := hz.grpc()
	second := filepath.Join(dir, "second.txt")
	os.WriteFile(second, []byte("补充协议"), 0o644)
	if got := submit(servers, second).Filed[0]; got.Court != hzCourt {
		t.Fatalf("submit with the first node down: %+v", got)
	}
	for _, cmd := range []struct {
		token string
		args  []string
	}{
		{tokJudge, []string{"get", id}},
		{tokJudge, []string{"lookup", filed.Fingerprint}},
		{tokJudge, []string{"head"}},
		{tokJudge, []string{"verify", file}},
		{tokJudge, []string{"cert", "get", id}},
		{tokAdmin, []string{"cluster", "status"}},
		{tokAdmin, []string{"platform", "list"}},
		{tokAdmin, []string{"audit", "--limit", "3"}},
	} {
		if out, errs, err := as(t, cmd.token, append(cmd.args, "--server", servers)...); err != nil {
			t.Errorf("%v with the first of --server %s down: %v\n%s%s", cmd.args, servers, err, out, errs)
		}
	}
	fo := nw.client(t, hz, tokJudge)
	if _, err := fo.Evidence().GetEvidence(context.Background(), &pb.GetEvidenceRequest{EvidenceId: id}); err != nil {
		t.Errorf("Go client with the first endpoint down: %v", err)
	}
}

// restGet reads a REST path of a node as the judge into m.
func (nw *testNetwork) restGet(addr, path string, m proto.Message) error {
	req, _ := http.NewRequest(http.MethodGet, "https://"+addr+path, nil)
	req.Header.Set("Authorization", "Bearer "+tokJudge)
	resp, err := (&http.Client{Transport: &http.Transport{TLSClientConfig: nw.tls}}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s\n%s", path, resp.Status, body)
	}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(body, m); err != nil {
		return fmt.Errorf("GET %s: %v\n%s", path, err, body)
	}
	return nil
}
