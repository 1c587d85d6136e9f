package main

import (
	"fmt"
	"slices"
	"time"

	"github.com/anishathalye/porcupine"
)

// The history's own checks: reads that went backwards on a node, and
// linearizability of submissions and reads with porcupine.

// readRegressions counts reads at a node that found nothing after the
// same node had answered found for the same request ID or index (a node
// that lost what it served), and reads that found nothing after the
// acknowledgement (a follower behind: allowed, only counted).
func readRegressions(ops []op) (regressions, stale int) {
	ackedAt := map[string]time.Duration{}
	for _, o := range ops {
		if o.kind == opSubmit {
			ackedAt[o.rid] = o.ret
		}
	}
	type key struct {
		node, what string
	}
	seen := map[key]time.Duration{} // first found answer's return
	reads := slices.Clone(ops)
	slices.SortFunc(reads, func(a, b op) int { return int(a.call - b.call) })
	for _, o := range reads {
		var k key
		switch o.kind {
		case opReadID:
			k = key{o.node, "rid:" + o.rid}
		case opReadIndex:
			k = key{o.node, fmt.Sprintf("index:%d", o.index)}
		default:
			continue
		}
		if o.found {
			if _, ok := seen[k]; !ok {
				seen[k] = o.ret
			}
			continue
		}
		if t, ok := seen[k]; ok && o.call > t {
			regressions++
		} else if t, ok := ackedAt[o.rid]; ok && o.kind == opReadID && o.call > t {
			stale++
		}
	}
	return regressions, stale
}

// linIn is an operation on one register: a request ID's index, or an
// index's request ID. Each is written once (by the acknowledged
// submission, or a retry of it) and read by lookups that found it.
type linIn struct {
	key   string
	write bool
	val   string
}

var registerModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		var keys []string
		for _, o := range history {
			k := o.Input.(linIn).key
			if _, ok := byKey[k]; !ok {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], o)
		}
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() any { return "" },
	Step: func(state, input, output any) (bool, any) {
		s, in := state.(string), input.(linIn)
		if in.write {
			if s == "" || s == in.val {
				return true, in.val
			}
			return false, s
		}
		return output.(string) == s, s
	},
	DescribeOperation: func(input, output any) string {
		in := input.(linIn)
		if in.write {
			return fmt.Sprintf("%s := %s", in.key, in.val)
		}
		return fmt.Sprintf("%s -> %v", in.key, output)
	},
}

// linearizable checks the acknowledged submissions and the reads that
// found something, per request ID and per index, with porcupine. A
// submission never acknowledged but found in a node's log is a write
// that may have happened any time until the end. Reads that found
// nothing are left out: a follower serves what it has applied, which may
// lag (readRegressions judges those).
func linearizable(ops []op, pending []string, logs []*nodeLog, end time.Duration) string {
	var hist []porcupine.Operation
	add := func(key string, write bool, val string, call, ret time.Duration) {
		hist = append(hist, porcupine.Operation{Input: linIn{key, write, val}, Output: val, Call: int64(call), Return: int64(ret)})
	}
	for _, o := range ops {
		switch {
		case o.kind == opSubmit:
			add("rid:"+o.rid, true, fmt.Sprint(o.index), o.call, o.ret)
			add(fmt.Sprintf("index:%d", o.index), true, o.rid, o.call, o.ret)
		case o.kind == opReadID && o.found:
			add("rid:"+o.rid, false, fmt.Sprint(o.index), o.call, o.ret)
		case o.kind == opReadIndex && o.found:
			add(fmt.Sprintf("index:%d", o.index), false, o.rid, o.call, o.ret)
		}
	}
	for _, rid := range pending {
		for _, nl := range logs {
			if at := nl.byRID[rid]; len(at) > 0 {
				add("rid:"+rid, true, fmt.Sprint(at[0]), 0, end)
				add(fmt.Sprintf("index:%d", at[0]), true, rid, 0, end)
				break
			}
		}
	}
	return string(porcupine.CheckOperationsTimeout(registerModel, hist, 60*time.Second))
}
