package court

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/courtledger/courtledger/crypto/sm2"

	"github.com/courtledger/courtledger/consensus"
	"github.com/courtledger/courtledger/court/access"
	"github.com/courtledger/courtledger/court/web"
	"github.com/courtledger/courtledger/court/witness"
	"github.com/courtledger/courtledger/crypto/checkpoint"
	"github.com/courtledger/courtledger/evidence/certpdf"
)

// The verification pages (court/web) on the node's HTTPS listener: the
// pages call the REST API like any client, so a sign-in session only
// stands in for the bearer token a browser cannot send (Sessions.Wrap in
// front of /v1/), and the guard, role table, rate limits and audit apply
// to every call a page makes.

// webPages builds the pages of this node, or nil if it has none (plain
// HTTP without TLS: a session cookie must be Secure).
func (n *Node) webPages() (*web.Handler, *web.Sessions, error) {
	trust, err := n.trustFile()
	if err != nil {
		return nil, nil, err
	}
	var sessions *web.Sessions
	if n.tls != nil && n.auth != nil {
		sessions, err = web.NewSessions(web.SessionConfig{
			Check: func(_ context.Context, token string) (web.Identity, error) {
				id, err := n.auth.FromToken("Bearer " + token)
				if err != nil {
					return web.Identity{}, err
				}
				return web.Identity{Role: string(id.Role), ID: id.ID}, nil
			},
			Roles:  []string{string(access.RoleJudge), string(access.RoleLawyer)},
			Logger: n.log.With("component", "web"),
		})
		if err != nil {
			return nil, nil, err
		}
	}
	h, err := web.New(web.Config{Court: n.cfg.Court, CourtName: certpdf.KnownCourtName(n.cfg.Court), Trust: trust,
		Status: n.webStatus, Sessions: sessions, Logger: n.log.With("component", "web")})
	if err != nil {
		return nil, nil, err
	}
	return h, sessions, nil
}

// trustFile is the trust file the court publishes for the certificate
// page: this court's keys (current, then previous) and every other
// court's it knows, one `courtd keygen` trust line each.
func (n *Node) trustFile() ([]byte, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "# Court keys published by %s (node %s): the trust anchors of its verification page.\n", n.cfg.Court, n.cfg.NodeID)
	add := func(court string, keys ...*sm2.PublicKey) error {
		for _, k := range keys {
			if k == nil {
				continue
			}
			v, err := checkpoint.NewVerifier(court, k)
			if err != nil {
				return fmt.Errorf("court: trust line of %s: %w", court, err)
			}
			b.WriteString(v.String() + "\n")
		}
		return nil
	}
	if err := add(n.cfg.Court, n.cfg.OwnKeys()...); err != nil {
		return nil, err
	}
	others := slices.Clone(n.cfg.Courts)
	slices.SortFunc(others, func(a, b witness.OtherCourt) int { return strings.Compare(a.Court, b.Court) })
	for _, c := range others {
		if err := add(c.Court, append([]*sm2.PublicKey{c.Key}, c.Keys...)...); err != nil {
			return nil, err
		}
	}
	// The roots of the TSAs that stamp this court's heads: the page checks
	// a certificate's timestamp with them (issue 16).
	for _, t := range n.cfg.TSA {
		fmt.Fprintf(&b, "# Time-stamping authority %s\n", t.URL)
		b.Write(t.AnchorPEM)
		if len(t.AnchorPEM) > 0 && t.AnchorPEM[len(t.AnchorPEM)-1] != '\n' {
			b.WriteByte('\n')
		}
	}
	return []byte(b.String()), nil
}

// webStatus is what the status page shows, read from this node's state:
// no credentials are needed to see a court's public head and alarms.
func (n *Node) webStatus(context.Context) (web.Status, error) {
	st := web.Status{Node: n.cfg.NodeID}
	st.Ready, st.NotReady = n.ready()
	h, err := n.ledger.LatestHead()
	switch {
	case errors.Is(err, consensus.ErrEmpty):
		// A new court: nothing filed, nothing signed yet; its mirrors and
		// alarms are still worth showing.
		st.Empty = true
	case err != nil:
		return st, fmt.Errorf("the court's newest head: %w", err)
	default:
		st.Head = n.webHead(h)
	}
	for _, t := range n.cfg.TSA {
		st.TSAs = append(st.TSAs, t.URL)
	}
	if n.stamper != nil {
		if len(st.TSAs) == 0 {
			for _, t := range n.cfg.TSAs {
				st.TSAs = append(st.TSAs, t.Name())
			}
		}
		st.StampedSize, _ = n.ledger.LastStamped()
		st.Behind, st.BehindSince = n.stamper.Behind()
	}
	for _, m := range n.syncer.Status() {
		wm := web.Mirror{Court: m.Court, Size: m.Size, CheckedAt: m.Checked, Alarmed: m.Alarmed}
		if m.Head.Note != nil {
			wm.HeadTime = m.Head.Head.Time
		}
		if m.LastError != nil {
			wm.LastError = m.LastError.Error()
		}
		st.Mirrors = append(st.Mirrors, wm)
	}
	slices.SortFunc(st.Mirrors, func(a, b web.Mirror) int { return strings.Compare(a.Court, b.Court) })
	alarms, err := n.ledger.Alarms(false)
	if err != nil {
		return st, fmt.Errorf("alarms: %w", err)
	}
	if a, ok := n.ledgerAlarm(); ok {
		alarms = append(alarms, a)
	}
	for _, a := range alarms {
		st.Alarms = append(st.Alarms, web.Alarm{Court: a.Court, Kind: string(a.Kind), Detail: a.Detail, Source: a.Source, RaisedAt: a.RaisedAt})
	}
	return st, nil
}

// webHead is the court's head with the witnesses' cosignatures on it, as
// receipts carry them.
func (n *Node) webHead(h consensus.SignedHead) web.Head {
	head := web.Head{Size: h.Head.Size, RootHex: hex.EncodeToString(h.Head.Root), Time: h.Head.Time, Note: string(h.Note)}
	lines, err := n.ledger.Cosignatures(h.Head.Size)
	if err != nil || len(lines) == 0 {
		return head
	}
	signed, err := checkpoint.WithSignatures(h.Note, lines...)
	if err != nil {
		return head
	}
	head.Note = string(signed)
	sigs, err := checkpoint.Signatures(signed)
	if err != nil {
		return head
	}
	for _, s := range sigs {
		if s.Name == n.cfg.Court {
			continue
		}
		c := web.Cosignature{Court: s.Name, KeyID: fmt.Sprintf("%08x", s.KeyID)}
		// A line that is no cosignature has no time (see
		// certificate.Cosignatures).
		if at, err := checkpoint.CosignedAt(s); err == nil && at.Year() <= 9999 {
			c.Time = at
		}
		head.Witnesses = append(head.Witnesses, c)
	}
	return head
}

// withSessions puts the sign-in sessions, if any, in front of the API.
func withSessions(s *web.Sessions, api http.Handler) http.Handler {
	if s == nil {
		return api
	}
	return s.Wrap(api)
}
