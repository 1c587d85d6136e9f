package court

import (
	"fmt"
	"os"

	"github.com/courtledger/courtledger/court/access"
	"github.com/courtledger/courtledger/crypto/sm2"
)

// FileSecurity is the security part of a node's YAML file (issue 7):
//
//	tls_cert_file: /etc/courtd/node.pem      # certificate (URI SAN courtledger://node/<court>/<node>)
//	tls_key_file: /etc/courtd/node.pem       # its key, mode 0600; may be the same file
//	tls_ca_file: /etc/courtd/ca.pem          # CAs of clients, of this court's nodes, of peer courts
//	insecure: false                          # plain text: debugging only, logs a warning
//	court_key_password_env: COURTD_COURT_KEY_PASSWORD  # for an ENCRYPTED PRIVATE KEY court key
//	node_token_env: COURTD_NODE_TOKEN        # insecure mode: this node's token to its peers
//	peer_courts: [beijing.court.example/evidence]
//	rate_per_second: 100
//	rate_burst: 200
//	tokens:                                  # bearer tokens by SHA-256 (courtd token hashes one)
//	  - {sha256: 5e88...42d8, role: judge, id: judge-wang}
type FileSecurity struct {
	TLSCertFile         string      `koanf:"tls_cert_file"`
	TLSKeyFile          string      `koanf:"tls_key_file"`
	TLSCAFile           string      `koanf:"tls_ca_file"`
	Insecure            bool        `koanf:"insecure"`
	CourtKeyPasswordEnv string      `koanf:"court_key_password_env"`
	NodeTokenEnv        string      `koanf:"node_token_env"`
	PeerCourts          []string    `koanf:"peer_courts"`
	RatePerSecond       float64     `koanf:"rate_per_second"`
	RateBurst           int         `koanf:"rate_burst"`
	Tokens              []FileToken `koanf:"tokens"`
}

// FileToken is one entry of tokens.
type FileToken struct {
	SHA256 string `koanf:"sha256"`
	Role   string `koanf:"role"`
	ID     string `koanf:"id"`
}

func (fs FileSecurity) validate() []error {
	var errs []error
	tls := fs.TLSCertFile != "" || fs.TLSKeyFile != "" || fs.TLSCAFile != ""
	switch {
	case fs.Insecure && tls:
		errs = append(errs, fmt.Errorf("insecure and tls_* files are exclusive"))
	case !fs.Insecure && (fs.TLSCertFile == "" || fs.TLSKeyFile == "" || fs.TLSCAFile == ""):
		errs = append(errs, fmt.Errorf("tls_cert_file, tls_key_file and tls_ca_file are required (or insecure: true, for debugging)"))
	}
	return errs
}

// security turns the file's settings into a node's Security.
func (fs FileSecurity) security() (Security, error) {
	s := Security{Insecure: fs.Insecure, PeerCourts: fs.PeerCourts,
		Rate: access.RateConfig{PerSecond: fs.RatePerSecond, Burst: fs.RateBurst}}
	if !fs.Insecure {
		s.TLS = &access.TLSConfig{CertFile: fs.TLSCertFile, KeyFile: fs.TLSKeyFile, CAFile: fs.TLSCAFile}
	}
	for _, t := range fs.Tokens {
		s.Tokens = append(s.Tokens, access.TokenRule{Hash: t.SHA256, Identity: access.Identity{Role: access.Role(t.Role), ID: t.ID}})
	}
	if fs.NodeTokenEnv != "" {
		s.NodeToken = os.Getenv(fs.NodeTokenEnv)
	}
	return s, nil
}

// LoadCourtKey reads the court's SM2 signing key. The file must be 0600 or
// stricter. An "ENCRYPTED PRIVATE KEY" is decrypted with the password in
// the environment variable passwordEnv (default COURTD_COURT_KEY_PASSWORD),
// which is then cleared from this process's environment.
func LoadCourtKey(path, passwordEnv string) (*sm2.PrivateKey, error) {
	if err := access.CheckKeyFileMode(path); err != nil {
		return nil, err
	}
	pemBytes, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("court: court key: %w", err)
	}
	if !sm2.IsEncryptedPEM(pemBytes) {
		k, err := sm2.ParsePrivateKeyPEM(pemBytes)
		if err != nil {
			return nil, fmt.Errorf("court: court key %s: %w", path, err)
		}
		return k, nil
	}
	if passwordEnv == "" {
		passwordEnv = "COURTD_COURT_KEY_PASSWORD"
	}
	pw, ok := os.LookupEnv(passwordEnv)
	if !ok || pw == "" {
		return nil, fmt.Errorf("court: court key %s is encrypted; set its password in %s", path, passwordEnv)
	}
	os.Unsetenv(passwordEnv)
	k, err := sm2.ParseEncryptedPrivateKeyPEM(pemBytes, []byte(pw))
	if err != nil {
		return nil, fmt.Errorf("court: court key %s: %w", path, err)
	}
	return k, nil
}
