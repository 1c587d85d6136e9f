package merkle_test

import (
	"bytes"
	"encoding/hex"
	"testing"

	"github.com/courtledger/courtledger/crypto/merkle"
)

// emptyRootHex is SM3 of the empty message (GM/T 0004-2012), the root of the
// tree with no leaves: printf "" | openssl dgst -sm3
const emptyRootHex = "1ab21d8355cfa17f8e61194831e81a8f22bec8c728fefb747ed035eb5082aa2b"

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestEmptyRoot checks the empty tree's root everywhere the package produces
// it, against the constant and against SM3("") computed by the reference.
func TestEmptyRoot(t *testing.T) {
	want := mustHex(t, emptyRootHex)
	if got := sm3Hash.sum(nil); !bytes.Equal(got, want) {
		t.Fatalf("reference SM3(\"\") = %x, want %x", got, want)
	}
	emptyStore := merkle.NewMemStore()
	root0, err := merkle.Root(t.Context(), emptyStore, 0)
	if err != nil {
		t.Fatalf("Root(empty store, 0): %v", err)
	}
	loaded, err := merkle.LoadRange(t.Context(), emptyStore, 0)
	if err != nil {
		t.Fatalf("LoadRange(empty store, 0): %v", err)
	}
	for _, tc := range []struct {
		name string
		got  []byte
	}{
		{"EmptyRoot", merkle.EmptyRoot()},
		{"Hasher.EmptyRoot", merkle.Hasher.EmptyRoot()},
		{"RootOf(nil)", merkle.RootOf(nil)},
		{"NewRange().Root", merkle.NewRange().Root()},
		{"NewMemStore().Root", emptyStore.Root()},
		{"Root(store, 0)", root0},
		{"LoadRange(store, 0).Root", loaded.Root()},
	} {
		if !bytes.Equal(tc.got, want) {
			t.Errorf("%s = %x, want %x", tc.name, tc.got, want)
		}
	}
	if loaded.Size() != 0 {
		t.Errorf("LoadRange(store, 0).Size() = %d, want 0", loaded.Size())
	}
}

// TestHashes pins the leaf and node hashes, each row with the shell line that
// computes its expected value with OpenSSL.
func TestHashes(t *testing.T) {
	const (
		leafEmpty = "2daef60e7a0b8f5e024c81cd2ab3109f2b4f155cf83adeb2ae5532f74a157fdf"
		leafABC   = "a7fe0cdcc2194aa7a9c6bfad5637581bf051d935a10bb6a9ccabfce125c27d96"
		zero      = "0000000000000000000000000000000000000000000000000000000000000000"
	)
	for _, tc := range []struct {
		name  string
		shell string
		got   func() []byte
		want  string
	}{
		{
			name:  "leaf of empty entry",
			shell: `printf '\x00' | openssl dgst -sm3`,
			got:   func() []byte { return merkle.LeafHash(nil) },
			want:  leafEmpty,
		},
		{
			name:  "leaf abc",
			shell: `printf '\x00abc' | openssl dgst -sm3`,
			got:   func() []byte { return merkle.LeafHash([]byte("abc")) },
			want:  leafABC,
		},
		{
			name:  "node of the two leaves",
			shell: `(printf '\x01'; printf '%s%s' ` + leafEmpty + " " + leafABC + ` | xxd -r -p) | openssl dgst -sm3`,
			got:   func() []byte { return merkle.NodeHash(mustHex(t, leafEmpty), mustHex(t, leafABC)) },
			want:  "bae476924e2632ed81f7e2fb09ca01aac957e73fd5292b93e52f4ee2bf32cdd6",
		},
		{
			name:  "node of zero hashes",
			shell: `(printf '\x01'; head -c 64 /dev/zero) | openssl dgst -sm3`,
			got:   func() []byte { return merkle.NodeHash(mustHex(t, zero), mustHex(t, zero)) },
			want:  "5ec1420cd14f308650cb6ac8dcd6bab89589f1f3dced7c1a17345f269e605291",
		},
		{
			name:  "Hasher.HashLeaf is LeafHash",
			shell: `printf '\x00abc' | openssl dgst -sm3`,
			got:   func() []byte { return merkle.Hasher.HashLeaf([]byte("abc")) },
			want:  leafABC,
		},
		{
			name:  "Hasher.HashChildren is NodeHash",
			shell: `(printf '\x01'; head -c 64 /dev/zero) | openssl dgst -sm3`,
			got:   func() []byte { return merkle.Hasher.HashChildren(mustHex(t, zero), mustHex(t, zero)) },
			want:  "5ec1420cd14f308650cb6ac8dcd6bab89589f1f3dced7c1a17345f269e605291",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := hex.EncodeToString(tc.got()); got != tc.want {
				t.Errorf("got %s, want %s (%s)", got, tc.want, tc.shell)
			}
		})
	}
	if got := merkle.Hasher.Size(); got != 32 || merkle.HashSize != 32 {
		t.Errorf("Hasher.Size() = %d, HashSize = %d, want 32", got, merkle.HashSize)
	}
}

// TestDomainSeparation checks what the 0x00 and 0x01 prefixes are for: the
// hash of an interior node is never the hash of a leaf with the same bytes,
// so a node cannot be passed off as an entry.
func TestDomainSeparation(t *testing.T) {
	l, r := merkle.LeafHash([]byte("left")), merkle.LeafHash([]byte("right"))
	node := merkle.NodeHash(l, r)
	if asLeaf := merkle.LeafHash(append(bytes.Clone(l), r...)); bytes.Equal(asLeaf, node) {
		t.Errorf("LeafHash(l || r) = NodeHash(l, r) = %x", node)
	}
	if bytes.Equal(merkle.NodeHash(r, l), node) {
		t.Error("NodeHash is symmetric in its children")
	}
}

// TestHashesAreFresh checks that the hashes handed out are the caller's to
// keep and modify: changing one changes nothing in the package.
func TestHashesAreFresh(t *testing.T) {
	e := merkle.EmptyRoot()
	e[0] ^= 0xff
	if got := hex.EncodeToString(merkle.EmptyRoot()); got != emptyRootHex {
		t.Errorf("after modifying a returned EmptyRoot, EmptyRoot() = %s", got)
	}
	if got := hex.EncodeToString(merkle.NewRange().Root()); got != emptyRootHex {
		t.Errorf("after modifying a returned EmptyRoot, NewRange().Root() = %s", got)
	}
}
