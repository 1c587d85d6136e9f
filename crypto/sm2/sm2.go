// Package sm2 signs and verifies with SM2 (GM/T 0003) over SM3, the way every
// standard implementation does by default, so that signatures made here verify
// in OpenSSL 3, tjfoc/gmsm or sm-crypto and the other way round:
//
//   - the signer's identity is bound into the digest through Z_A (GM/T 0003.2
//     §5.5) with the GM/T 0009 default user ID "1234567812345678";
//   - signatures are ASN.1 DER SEQUENCE { r INTEGER, s INTEGER } (GM/T 0009 §7);
//   - private keys are PKCS#8 PEM ("PRIVATE KEY"), public keys are
//     SubjectPublicKeyInfo PEM ("PUBLIC KEY"), with the SM2 curve OID
//     1.2.156.10197.1.301 (GM/T 0006).
//
// OpenSSL 3 signs with an empty ID unless told otherwise: pass
// -pkeyopt distid:1234567812345678 to both openssl pkeyutl -sign and -verify.
package sm2

import (
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io"

	gmsm2 "github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"
)

// DefaultUserID is the GM/T 0009 default distinguishing identifier. It is
// hashed into every signature, so signer and verifier must agree on it.
const DefaultUserID = "1234567812345678"

// MaxSignatureSize bounds a DER signature: SEQUENCE header (2) + two INTEGERs
// of at most 33 bytes each with their 2-byte headers.
const MaxSignatureSize = 72

var defaultUID = []byte(DefaultUserID)

// Errors callers can act on with errors.Is.
var (
	ErrNotSM2Key      = errors.New("sm2: key is not an SM2 key")
	ErrNoPEMBlock     = errors.New("sm2: no PEM block found")
	ErrBadSignature   = errors.New("sm2: signature does not verify")
	ErrTrailingData   = errors.New("sm2: trailing data after PEM block")
	ErrSignatureSize  = errors.New("sm2: signature longer than an SM2 DER signature can be")
	ErrWrongPEMHeader = errors.New("sm2: unexpected PEM block type")
)

// PrivateKey is an SM2 signing key.
type PrivateKey struct{ k *gmsm2.PrivateKey }

// PublicKey is an SM2 verification key.
type PublicKey struct{ k *ecdsa.PublicKey }

// GenerateKey makes a new key from crypto/rand.
func GenerateKey() (*PrivateKey, error) {
	return generateKey(rand.Reader)
}

func generateKey(r io.Reader) (*PrivateKey, error) {
	k, err := gmsm2.GenerateKey(r)
	if err != nil {
		return nil, fmt.Errorf("sm2: generate key: %w", err)
	}
	return &PrivateKey{k: k}, nil
}

// Public returns the verification key of k.
func (k *PrivateKey) Public() *PublicKey { return &PublicKey{k: &k.k.PublicKey} }

// Sign signs msg (the message itself, not a digest) with SM3 and the default
// user ID, returning an ASN.1 DER signature. SM2 signing is randomized: two
// signatures of one message differ, and both verify.
func (k *PrivateKey) Sign(msg []byte) ([]byte, error) {
	// Hash Z_A || msg here rather than through SignWithSM2, which in
	// emmansun/gmsm v0.44.1 refuses an empty msg ("hash cannot be empty")
	// although SM2 signs it like any other message.
	e, err := gmsm2.CalculateSM2Hash(&k.k.PublicKey, msg, defaultUID)
	if err != nil {
		return nil, fmt.Errorf("sm2: sign: %w", err)
	}
	sig, err := gmsm2.SignASN1(rand.Reader, k.k, e, nil)
	if err != nil {
		return nil, fmt.Errorf("sm2: sign: %w", err)
	}
	return sig, nil
}

// Verify reports whether sig is a valid DER signature of msg by pub with the
// default user ID. It returns ErrBadSignature, never a bare false, so callers
// wrap one error type.
func (pub *PublicKey) Verify(msg, sig []byte) error {
	if len(sig) > MaxSignatureSize {
		return ErrSignatureSize
	}
	if !gmsm2.VerifyASN1WithSM2(pub.k, defaultUID, msg, sig) {
		return ErrBadSignature
	}
	return nil
}

// Equal reports whether pub and other are the same key.
func (pub *PublicKey) Equal(other *PublicKey) bool {
	return other != nil && pub.k.Equal(other.k)
}

// ECDSA exposes the key as the *ecdsa.PublicKey that emmansun/gmsm and
// smx509 use, for callers that build certificates or talk to those APIs.
func (pub *PublicKey) ECDSA() *ecdsa.PublicKey { return pub.k }

// MarshalPKIX returns the DER SubjectPublicKeyInfo of pub.
func (pub *PublicKey) MarshalPKIX() []byte {
	der, err := smx509.MarshalPKIXPublicKey(pub.k)
	if err != nil {
		// Only unknown key types fail, and pub is always an SM2 key.
		panic("sm2: marshal SM2 public key: " + err.Error())
	}
	return der
}

// MarshalPEM returns pub as a "PUBLIC KEY" PEM block.
func (pub *PublicKey) MarshalPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub.MarshalPKIX()})
}

// MarshalPEM returns k as an unencrypted PKCS#8 "PRIVATE KEY" PEM block, the
// form `openssl genpkey -algorithm SM2` writes.
func (k *PrivateKey) MarshalPEM() ([]byte, error) {
	der, err := smx509.MarshalPKCS8PrivateKey(k.k)
	if err != nil {
		return nil, fmt.Errorf("sm2: marshal private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ParsePublicKeyPEM parses one "PUBLIC KEY" PEM block holding an SM2
// SubjectPublicKeyInfo. Anything after the block other than whitespace is an
// error, so a file cannot smuggle a second key.
func ParsePublicKeyPEM(data []byte) (*PublicKey, error) {
	der, err := onePEM(data, "PUBLIC KEY")
	if err != nil {
		return nil, err
	}
	return ParsePublicKeyDER(der)
}

// ParsePublicKeyDER parses a DER SubjectPublicKeyInfo holding an SM2 key.
func ParsePublicKeyDER(der []byte) (*PublicKey, error) {
	key, err := smx509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("sm2: parse public key: %w", err)
	}
	ek, ok := key.(*ecdsa.PublicKey)
	if !ok || !gmsm2.IsSM2PublicKey(ek) {
		return nil, fmt.Errorf("%w: got %T", ErrNotSM2Key, key)
	}
	return &PublicKey{k: ek}, nil
}

// ParsePrivateKeyPEM parses one unencrypted PKCS#8 "PRIVATE KEY" PEM block
// holding an SM2 key.
func ParsePrivateKeyPEM(data []byte) (*PrivateKey, error) {
	der, err := onePEM(data, "PRIVATE KEY")
	if err != nil {
		return nil, err
	}
	key, err := smx509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("sm2: parse private key: %w", err)
	}
	k, ok := key.(*gmsm2.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%w: got %T", ErrNotSM2Key, key)
	}
	// smx509 accepts any d below n, but an SM2 key needs d in [1, n-2]
	// (GB/T 32918.1 §6.1): d = 0 has no public key, d = n-1 cannot sign.
	k, err = gmsm2.NewPrivateKey(k.D.FillBytes(make([]byte, 32)))
	if err != nil {
		return nil, fmt.Errorf("sm2: parse private key: %w", err)
	}
	return &PrivateKey{k: k}, nil
}

func onePEM(data []byte, typ string) ([]byte, error) {
	block, rest := pem.Decode(data)
	if block == nil {
		return nil, ErrNoPEMBlock
	}
	if block.Type != typ {
		return nil, fmt.Errorf("%w: got %q, want %q", ErrWrongPEMHeader, block.Type, typ)
	}
	for _, c := range rest {
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return nil, ErrTrailingData
		}
	}
	return block.Bytes, nil
}
