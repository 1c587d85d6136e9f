package sm2

import (
	"encoding/pem"
	"fmt"

	"github.com/emmansun/gmsm/pkcs"
	"github.com/emmansun/gmsm/pkcs8"
)

// An encrypted private key is PKCS#8 EncryptedPrivateKeyInfo (RFC 5958) in
// an "ENCRYPTED PRIVATE KEY" PEM block, encrypted with PBES2: PBKDF2 with
// HMAC-SM3 and SM4-CBC here. OpenSSL 3 reads it with
// `openssl pkey -in key.pem` given the password.

// pbkdf2Iterations makes each password guess cost about as much as
// OpenSSL's default for new keys.
const pbkdf2Iterations = 100000

// MarshalEncryptedPEM returns k encrypted under password.
func (k *PrivateKey) MarshalEncryptedPEM(password []byte) ([]byte, error) {
	der, err := pkcs8.MarshalPrivateKey(k.k, password, &pkcs8.Opts{
		Cipher:  pkcs.SM4CBC,
		KDFOpts: pkcs8.PBKDF2Opts{SaltSize: 16, IterationCount: pbkdf2Iterations, HMACHash: pkcs8.SM3},
	})
	if err != nil {
		return nil, fmt.Errorf("sm2: encrypt private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: der}), nil
}

// ParseEncryptedPrivateKeyPEM decrypts one "ENCRYPTED PRIVATE KEY" PEM
// block holding an SM2 key.
func ParseEncryptedPrivateKeyPEM(data, password []byte) (*PrivateKey, error) {
	der, err := onePEM(data, "ENCRYPTED PRIVATE KEY")
	if err != nil {
		return nil, err
	}
	k, err := pkcs8.ParsePKCS8PrivateKeySM2(der, password)
	if err != nil {
		return nil, fmt.Errorf("sm2: decrypt private key (wrong password?): %w", err)
	}
	plain, err := (&PrivateKey{k: k}).MarshalPEM()
	if err != nil {
		return nil, err
	}
	// Through the unencrypted parser, for its range check on d.
	return ParsePrivateKeyPEM(plain)
}

// IsEncryptedPEM reports whether data starts with an encrypted key block.
func IsEncryptedPEM(data []byte) bool {
	b, _ := pem.Decode(data)
	return b != nil && b.Type == "ENCRYPTED PRIVATE KEY"
}
