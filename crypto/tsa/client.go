package tsa

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"encoding/asn1"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"time"

	"github.com/digitorus/timestamp"
)

// The media types of RFC 3161 section 3.4.
const (
	QueryType = "application/timestamp-query"
	ReplyType = "application/timestamp-reply"
)

// ClientConfig names one TSA and how to ask it.
type ClientConfig struct {
	// URL is the TSA's RFC 3161 HTTP endpoint (http or https: tokens are
	// signed, TLS is not what protects them).
	URL string
	// HTTP is the client to use; nil: a new http.Client.
	HTTP *http.Client
	// Hash makes the imprint: SHA-256 (the default), SHA-384 or SHA-512.
	Hash crypto.Hash
	// Policy, if set, is asked for in the request and required of the
	// token.
	Policy asn1.ObjectIdentifier
	// Timeout bounds one Stamp; zero: 10 s.
	Timeout time.Duration
	// MaxResponse bounds the bytes read of a reply; zero: MaxToken.
	MaxResponse int64
}

func (cfg *ClientConfig) validate() error {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return fmt.Errorf("TSA URL %q: %w", cfg.URL, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("TSA URL %q: want http://host[:port]/path or https://..., the TSA's RFC 3161 endpoint", cfg.URL)
	}
	switch cfg.Hash {
	case 0:
		cfg.Hash = crypto.SHA256
	case crypto.SHA256, crypto.SHA384, crypto.SHA512:
	default:
		return fmt.Errorf("TSA %s: hash %s not supported; use SHA-256, SHA-384 or SHA-512", cfg.URL, cfg.Hash)
	}
	if cfg.Timeout < 0 || cfg.MaxResponse < 0 {
		return fmt.Errorf("TSA %s: negative timeout or response bound", cfg.URL)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.MaxResponse == 0 {
		cfg.MaxResponse = MaxToken
	}
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{}
	}
	return nil
}

// Client asks one TSA for tokens. It is safe for concurrent use.
type Client struct {
	cfg ClientConfig
}

// NewClient checks cfg and fills in its defaults.
func NewClient(cfg ClientConfig) (*Client, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Client{cfg: cfg}, nil
}

// Name is the TSA's URL, for logs and metrics.
func (c *Client) Name() string { return c.cfg.URL }

// Stamp asks the TSA for a token over data (the imprint is Hash(data)); it
// checks the status is granted, the imprint and nonce match and the policy
// is the configured one, and returns the DER TimeStampResp as the TSA sent
// it. It does not check the TSA's signature or chain: that is Verify's, with
// the court's anchors, on this token and on every copy of it later.
//
// A TSA that cannot be reached or answers other than 200 gives
// ErrUnavailable: try again later.
func (c *Client) Stamp(ctx context.Context, data []byte) ([]byte, error) {
	h := c.cfg.Hash.New()
	h.Write(data)
	imprint := h.Sum(nil)
	// A 63-bit nonce: OpenSSL uses 64 bits; a positive INTEGER of 8 bytes
	// at most keeps every TSA's parser happy.
	nonce, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 63))
	if err != nil {
		return nil, err
	}
	req := &timestamp.Request{
		HashAlgorithm: c.cfg.Hash, HashedMessage: imprint,
		Certificates: true, TSAPolicyOID: c.cfg.Policy, Nonce: nonce,
	}
	query, err := req.Marshal()
	if err != nil {
		return nil, fmt.Errorf("TSA %s: request: %w", c.cfg.URL, err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, c.cfg.URL, bytes.NewReader(query))
	if err != nil {
		return nil, fmt.Errorf("TSA %s: %w", c.cfg.URL, err)
	}
	hreq.Header.Set("Content-Type", QueryType)
	hreq.Header.Set("Accept", ReplyType)
	resp, err := c.cfg.HTTP.Do(hreq)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrUnavailable, c.cfg.URL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10)) // let the connection be reused
		return nil, fmt.Errorf("%w: %s answered HTTP %s", ErrUnavailable, c.cfg.URL, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.cfg.MaxResponse+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: reading the reply: %w", ErrUnavailable, c.cfg.URL, err)
	}
	if int64(len(body)) > c.cfg.MaxResponse {
		return nil, fmt.Errorf("%w: %s sent more than %d bytes", ErrTooLarge, c.cfg.URL, c.cfg.MaxResponse)
	}
	if err := c.check(body, imprint, nonce); err != nil {
		return nil, fmt.Errorf("TSA %s: %w", c.cfg.URL, err)
	}
	return body, nil
}

// check holds a reply to the request made: granted, for this imprint and
// nonce, under the configured policy.
func (c *Client) check(reply, imprint []byte, nonce *big.Int) error {
	tok, err := tokenOf(reply)
	if err != nil {
		return err
	}
	if bytes.Equal(tok, reply) {
		return fmt.Errorf("%w: the reply is not a TimeStampResp", ErrMalformed)
	}
	ts, _, _, err := parseToken(tok)
	if err != nil {
		return err
	}
	if ts.HashAlgorithm != c.cfg.Hash || !bytes.Equal(ts.HashedMessage, imprint) {
		return fmt.Errorf("%w: asked for %s %x, the token is for %s %x", ErrImprint, c.cfg.Hash, imprint, ts.HashAlgorithm, ts.HashedMessage)
	}
	if ts.Nonce == nil || ts.Nonce.Cmp(nonce) != 0 {
		return fmt.Errorf("%w: sent %v, got %v", ErrNonce, nonce, ts.Nonce)
	}
	if c.cfg.Policy != nil && !ts.Policy.Equal(c.cfg.Policy) {
		return fmt.Errorf("%w: token policy %s, configured %s", ErrPolicy, ts.Policy, c.cfg.Policy)
	}
	return nil
}
