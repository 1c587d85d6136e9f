package certificate

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strconv"

	"github.com/courtledger/courtledger/crypto/merkle"
)

const tlogProofHeader = "c2sp.org/tlog-proof@v1\n"

func marshalTlogProof(index uint64, proof [][]byte, signedHead []byte) []byte {
	b := make([]byte, 0, len(tlogProofHeader)+32+45*len(proof)+1+len(signedHead))
	b = append(b, tlogProofHeader...)
	b = append(b, "index "...)
	b = strconv.AppendUint(b, index, 10)
	b = append(b, '\n')
	for _, h := range proof {
		b = base64.StdEncoding.AppendEncode(b, h)
		b = append(b, '\n')
	}
	b = append(b, '\n')
	return append(b, signedHead...)
}

// parseTlogProof reads what marshalTlogProof writes and nothing else: no
// extra line, an index without leading zeros, 32-byte hashes in strict
// base64. The signed head after the empty line is returned as is, for the
// caller to parse.
func parseTlogProof(text []byte) (index uint64, proof [][]byte, signedHead []byte, err error) {
	fail := func(format string, args ...any) (uint64, [][]byte, []byte, error) {
		return 0, nil, nil, fmt.Errorf("%w: tlog_proof: %s", ErrMalformed, fmt.Sprintf(format, args...))
	}
	rest, ok := bytes.CutPrefix(text, []byte(tlogProofHeader))
	if !ok {
		return fail("does not start with %q", tlogProofHeader[:len(tlogProofHeader)-1])
	}
	line, rest, ok := bytes.Cut(rest, []byte("\n"))
	num, isIndex := bytes.CutPrefix(line, []byte("index "))
	if !ok || !isIndex {
		return fail("want an index line after the header")
	}
	index, err = strconv.ParseUint(string(num), 10, 64)
	if err != nil || strconv.FormatUint(index, 10) != string(num) {
		return fail("index %q is not a decimal without leading zeros", clip(string(num)))
	}
	for {
		line, rest, ok = bytes.Cut(rest, []byte("\n"))
		if !ok {
			return fail("no empty line before the tree head")
		}
		if len(line) == 0 {
			break
		}
		if len(proof) == merkle.MaxProofLen {
			return fail("more than %d proof hashes", merkle.MaxProofLen)
		}
		h, err := base64.StdEncoding.Strict().DecodeString(string(line))
		if err != nil || len(h) != merkle.HashSize {
			return fail("proof line %d is not the base64 of a %d-byte hash", len(proof)+1, merkle.HashSize)
		}
		proof = append(proof, h)
	}
	return index, proof, rest, nil
}
