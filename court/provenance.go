package court

import (
	"slices"

	pb "github.com/courtledger/courtledger/api/gen/courtledger/v1"
	"github.com/courtledger/courtledger/consensus"
	"github.com/courtledger/courtledger/crypto/checkpoint"
)

// logs returns the court's own log, then the mirrors of the other courts
// in the order of their IDs: where a lookup searches.
func (n *Node) logs() []*consensus.LogView {
	out := []*consensus.LogView{n.ledger.Log(n.cfg.Court)}
	ids := make([]string, 0, len(n.courts))
	for id := range n.courts {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		out = append(out, n.ledger.Log(id))
	}
	return out
}

// logOf returns the log of court: "" or this court is the court's own; a
// configured other court is its mirror; anything else is unknown here.
func (n *Node) logOf(court string) (*consensus.LogView, error) {
	if court == "" || court == n.cfg.Court {
		return n.ledger.Log(n.cfg.Court), nil
	}
	if _, ok := n.courts[court]; !ok {
		return nil, unknownCourt("court", court)
	}
	return n.ledger.Log(court), nil
}

// receipt is the receipt of an entry of log with its provenance: from the
// court's own log, against the newest head witnesses cosigned (if one
// covers it); from a mirror, against the origin's head this court verified
// and cosigned, with how fresh the mirror is.
func (n *Node) receipt(log *consensus.LogView, index uint64) (*pb.Receipt, error) {
	r, err := log.WitnessedReceipt(index)
	if err != nil {
		return nil, err
	}
	rc, err := receiptToPB(r, false)
	if err != nil {
		return nil, err
	}
	p := &pb.Provenance{OriginCourt: log.Court(), ServedBy: n.cfg.Court, Mirrored: !log.Own(),
		Witnesses: n.witnesses(log.Court(), r.SignedHead)}
	if !log.Own() {
		st, err := n.ledger.Mirror(log.Court())
		if err != nil {
			return nil, err
		}
		p.MirrorSize, p.OriginAlarmed = st.Size, st.Alarm != nil
		if st.Head.Note != nil {
			p.MirrorHeadTime = timestampOf(st.Head.Head.Time)
		}
		if !st.Checked.IsZero() {
			p.MirrorCheckedAt = timestampOf(st.Checked)
		}
	}
	rc.Provenance = p
	return rc, nil
}

// witnesses lists the courts whose cosignatures on a head of origin verify
// under the keys this court holds (its own included, old keys too).
func (n *Node) witnesses(origin string, signed []byte) []string {
	court := n.verifiers
	if oc, ok := n.courts[origin]; ok {
		court = oc.verifiers
	}
	others := slices.Clone(n.cosigVerifiers)
	for _, oc := range n.courts {
		others = append(others, oc.cosigVerifiers...)
	}
	_, nt, err := checkpoint.OpenAny(signed, court, others...)
	if err != nil {
		return nil
	}
	var out []string
	for _, s := range nt.Sigs {
		if s.Name != origin || !hasKey(court, s.Hash) {
			out = append(out, s.Name)
		}
	}
	slices.Sort(out)
	// A witness that rotated its key may have cosigned the head with both.
	return slices.Compact(out)
}
