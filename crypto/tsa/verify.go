package tsa

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/digitorus/pkcs7"
	"github.com/digitorus/timestamp"

	// The hashes a token may name (SHA-1 only in an RFC 2634 signing
	// certificate attribute); linked here so crypto.Hash.New works wherever
	// this package is used.
	_ "crypto/sha1"
	_ "crypto/sha256"
	_ "crypto/sha512"
)

// MaxToken bounds what Verify reads and what a Client accepts by default:
// a token is a few KB at most (the development TSA's, ECDSA with its
// certificate, about 1.1 KB; RSA keys and a longer chain make it larger).
const MaxToken = 64 << 10

// oidExtKeyUsage is id-ce-extKeyUsage, the extension RFC 3161 section 2.3
// requires to be critical and to hold timeStamping alone.
var oidExtKeyUsage = asn1.ObjectIdentifier{2, 5, 29, 37}

// Anchors are the certificates a verifier trusts as TSA roots: a national
// TSA's root, or the development TSA's tsa-root.pem.
type Anchors struct {
	pool  *x509.CertPool
	certs []*x509.Certificate
}

// ParseAnchors reads one or more PEM CERTIFICATE blocks. Anything else in
// the file (a key, a broken certificate, no certificate at all) is an
// error that says which block and what to give instead.
func ParseAnchors(pemData []byte) (*Anchors, error) {
	a := &Anchors{pool: x509.NewCertPool()}
	for n := 1; ; n++ {
		var b *pem.Block
		b, pemData = pem.Decode(pemData)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("TSA anchors: PEM block %d is %q, want CERTIFICATE (give the TSA's root certificate, not a key)", n, b.Type)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("TSA anchors: certificate %d: %w", n, err)
		}
		a.pool.AddCert(c)
		a.certs = append(a.certs, c)
	}
	if len(a.certs) == 0 {
		return nil, errors.New("TSA anchors: no PEM CERTIFICATE block found; give the TSA's root certificate in PEM (-----BEGIN CERTIFICATE-----)")
	}
	return a, nil
}

// Certificates are the anchors, in the order of the file.
func (a *Anchors) Certificates() []*x509.Certificate { return a.certs }

// VerifyOptions say what to trust and what to require of one token.
type VerifyOptions struct {
	// Anchors are the TSA roots trusted; required.
	Anchors *Anchors
	// Policy, if set, is the TSA policy OID the token must name.
	Policy asn1.ObjectIdentifier
	// Expected is the time the token should agree with (the signed tree
	// head's); zero skips the check.
	Expected time.Time
	// Tolerance is how far the token's time may be from Expected, either
	// way. The token's accuracy is not added: a TSA whose clock is within
	// its accuracy of the truth is still held to the court's tolerance.
	Tolerance time.Duration
}

// Info is what a verified token says, for verdicts, logs and the PDF.
type Info struct {
	Time     time.Time     // the TSA's time, UTC
	TSA      string        // the signer certificate's subject common name (the whole subject if it has none)
	Serial   string        // the token's serial number, 0x and hex of whole bytes, as openssl ts -reply -text prints it
	Policy   string        // the TSA policy OID, dotted
	Accuracy time.Duration // as the TSA states it; zero if it states none
	Hash     string        // the imprint's hash, e.g. "SHA-256"
}

// Verify checks tsr, a DER TimeStampResp or a bare TimeStampToken, over
// data, offline: the CMS signature, the signer certificate's validity at
// the token's time and its critical timeStamping usage, its chain to an
// anchor, the imprint, the policy if one is required and the time if one
// is expected. The package comment lists the error of each check.
func Verify(tsr, data []byte, opts VerifyOptions) (Info, error) {
	if opts.Anchors == nil {
		return Info{}, fmt.Errorf("%w: no TSA trust anchors given", ErrUntrustedChain)
	}
	tok, err := tokenOf(tsr)
	if err != nil {
		return Info{}, err
	}
	ts, signer, intermediates, err := parseToken(tok)
	if err != nil {
		return Info{}, err
	}
	if err := checkSigner(signer, intermediates, opts.Anchors, ts.Time); err != nil {
		return Info{}, err
	}
	if err := checkImprint(ts.HashAlgorithm, ts.HashedMessage, data); err != nil {
		return Info{}, err
	}
	if opts.Policy != nil && !ts.Policy.Equal(opts.Policy) {
		return Info{}, fmt.Errorf("%w: token policy %s, required %s", ErrPolicy, ts.Policy, opts.Policy)
	}
	if !opts.Expected.IsZero() {
		d := ts.Time.Sub(opts.Expected)
		if d.Abs() > max(opts.Tolerance, 0) {
			return Info{}, fmt.Errorf("%w: TSA time %s, expected %s: %s apart, tolerance %s",
				ErrTolerance, ts.Time.UTC().Format(time.RFC3339Nano), opts.Expected.UTC().Format(time.RFC3339Nano), d, opts.Tolerance)
		}
	}
	name := signer.Subject.CommonName
	if name == "" {
		name = signer.Subject.String()
	}
	serial := "0x00"
	if ts.SerialNumber != nil && ts.SerialNumber.Sign() > 0 {
		serial = fmt.Sprintf("0x%X", ts.SerialNumber.Bytes()) // whole bytes, as OpenSSL prints it
	}
	return Info{
		Time: ts.Time.UTC(), TSA: name, Serial: serial, Policy: ts.Policy.String(),
		Accuracy: ts.Accuracy, Hash: ts.HashAlgorithm.String(),
	}, nil
}

// response is RFC 3161's TimeStampResp. digitorus/timestamp keeps its own
// unexported and folds a rejection into a plain error; this one lets a
// rejection be told from a broken token.
type response struct {
	Status statusInfo
	Token  asn1.RawValue `asn1:"optional"`
}

type statusInfo struct {
	Status       timestamp.Status
	StatusString []string       `asn1:"optional,utf8"`
	FailInfo     asn1.BitString `asn1:"optional"`
}

func (s statusInfo) String() string {
	out := s.Status.String()
	if len(s.StatusString) > 0 {
		out += ": " + strings.Join(s.StatusString, "; ")
	}
	for _, f := range []timestamp.FailureInfo{timestamp.BadAlgorithm, timestamp.BadRequest, timestamp.BadDataFormat,
		timestamp.TimeNotAvailable, timestamp.UnacceptedPolicy, timestamp.UnacceptedExtension,
		timestamp.AddInfoNotAvailable, timestamp.SystemFailure} {
		if s.FailInfo.At(int(f)) != 0 {
			out += " (" + f.String() + ")"
		}
	}
	return out
}

// tokenOf returns the TimeStampToken of a granted TimeStampResp, or der
// itself if it is not a TimeStampResp (then it should be a bare token).
func tokenOf(der []byte) ([]byte, error) {
	if len(der) > MaxToken {
		return nil, fmt.Errorf("%w: %d bytes, more than the %d a token may have", ErrTooLarge, len(der), MaxToken)
	}
	if len(der) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrMalformed)
	}
	var r response
	rest, err := asn1.Unmarshal(der, &r)
	if err != nil {
		return der, nil // not a TimeStampResp: parseToken says whether it is a token
	}
	if len(rest) > 0 {
		return nil, fmt.Errorf("%w: %d bytes after the TimeStampResp", ErrMalformed, len(rest))
	}
	if r.Status.Status != timestamp.Granted && r.Status.Status != timestamp.GrantedWithMods {
		return nil, fmt.Errorf("%w: %s", ErrRejected, r.Status)
	}
	if len(r.Token.FullBytes) == 0 {
		return nil, fmt.Errorf("%w: a granted TimeStampResp without a token", ErrMalformed)
	}
	return r.Token.FullBytes, nil
}

// parseToken decodes a TimeStampToken and checks its CMS signature with
// the signer certificate it carries; it returns the TSTInfo, the signer
// and the token's other certificates.
func parseToken(tok []byte) (ts *timestamp.Timestamp, signer *x509.Certificate, others []*x509.Certificate, err error) {
	defer func() {
		// The decoders are third-party and see untrusted bytes; a panic in
		// them is a malformed token, not a crashed court.
		if r := recover(); r != nil {
			ts, signer, others, err = nil, nil, nil, fmt.Errorf("%w: decoder panic: %v", ErrMalformed, r)
		}
	}()
	p7, err := pkcs7.Parse(tok)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w: CMS: %w", ErrMalformed, err)
	}
	if len(p7.Signers) != 1 {
		return nil, nil, nil, fmt.Errorf("%w: %d signers, want one", ErrMalformed, len(p7.Signers))
	}
	signer = p7.GetOnlySigner()
	switch {
	case signer == nil && len(p7.Certificates) == 0:
		return nil, nil, nil, fmt.Errorf("%w: the token carries no TSA certificate (request tokens with certReq, as Client does)", ErrMalformed)
	case signer == nil:
		return nil, nil, nil, fmt.Errorf("%w: none of the token's %d certificates is its signer's (by issuer and serial number)", ErrSignature, len(p7.Certificates))
	}
	if err := checkESS(p7, signer); err != nil {
		return nil, nil, nil, err
	}
	// timestamp.Parse checks the CMS signature whenever the token carries
	// certificates, which it does here.
	ts, err = timestamp.Parse(tok)
	if err != nil {
		if verr := p7.Verify(); verr != nil {
			// pkcs7 also refuses a signer certificate not valid at the
			// CMS signing-time attribute: that is the certificate's fault.
			var st time.Time
			if p7.UnmarshalSignedAttribute(pkcs7.OIDAttributeSigningTime, &st) == nil && (st.Before(signer.NotBefore) || st.After(signer.NotAfter)) {
				return nil, nil, nil, fmt.Errorf("%w: TSA certificate %q is valid from %s to %s, not at the token's signing time %s", ErrCertificate,
					signer.Subject.String(), signer.NotBefore.UTC().Format(time.RFC3339), signer.NotAfter.UTC().Format(time.RFC3339), st.UTC().Format(time.RFC3339))
			}
			return nil, nil, nil, fmt.Errorf("%w: %w", ErrSignature, verr)
		}
		return nil, nil, nil, fmt.Errorf("%w: TSTInfo: %w", ErrMalformed, err)
	}
	for _, c := range p7.Certificates {
		if c != signer {
			others = append(others, c)
		}
	}
	return ts, signer, others, nil
}

// checkSigner holds the signer certificate to RFC 3161 section 2.3 at the
// token's time and chains it to an anchor.
func checkSigner(signer *x509.Certificate, intermediates []*x509.Certificate, anchors *Anchors, at time.Time) error {
	who := fmt.Sprintf("TSA certificate %q (serial %X)", signer.Subject.String(), signer.SerialNumber)
	if at.Before(signer.NotBefore) || at.After(signer.NotAfter) {
		return fmt.Errorf("%w: %s is valid from %s to %s, not at the token's time %s", ErrCertificate, who,
			signer.NotBefore.UTC().Format(time.RFC3339), signer.NotAfter.UTC().Format(time.RFC3339), at.UTC().Format(time.RFC3339))
	}
	var eku *bool
	for _, e := range signer.Extensions {
		if e.Id.Equal(oidExtKeyUsage) {
			eku = &e.Critical
		}
	}
	switch {
	case eku == nil:
		return fmt.Errorf("%w: %s has no extended key usage; RFC 3161 requires timeStamping, critical", ErrCertificate, who)
	case !*eku:
		return fmt.Errorf("%w: %s has its extended key usage non-critical; RFC 3161 requires it critical", ErrCertificate, who)
	case len(signer.ExtKeyUsage) != 1 || signer.ExtKeyUsage[0] != x509.ExtKeyUsageTimeStamping || len(signer.UnknownExtKeyUsage) > 0:
		return fmt.Errorf("%w: %s has extended key usages other than timeStamping alone", ErrCertificate, who)
	}
	pool := x509.NewCertPool()
	for _, c := range intermediates {
		pool.AddCert(c)
	}
	_, err := signer.Verify(x509.VerifyOptions{
		Roots: anchors.pool, Intermediates: pool, CurrentTime: at,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping},
	})
	var invalid x509.CertificateInvalidError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &invalid) && (invalid.Reason == x509.Expired || invalid.Reason == x509.IncompatibleUsage):
		return fmt.Errorf("%w: %s: chain at the token's time %s: %w", ErrCertificate, who, at.UTC().Format(time.RFC3339), err)
	default:
		return fmt.Errorf("%w: %s: %w", ErrUntrustedChain, who, err)
	}
}

// checkImprint compares the token's imprint with data's hash. SHA-1 is
// refused: a token over a SHA-1 imprint proves little about which data.
func checkImprint(h crypto.Hash, imprint, data []byte) error {
	switch h {
	case crypto.SHA256, crypto.SHA384, crypto.SHA512:
	default:
		return fmt.Errorf("%w: imprint hash %s not accepted (want SHA-256, SHA-384 or SHA-512)", ErrImprint, h)
	}
	d := h.New()
	d.Write(data)
	if sum := d.Sum(nil); !bytes.Equal(sum, imprint) {
		return fmt.Errorf("%w: imprint %x, %s of the data %x", ErrImprint, imprint, h, sum)
	}
	return nil
}

// The signed attributes that name the signer certificate (RFC 5035's
// SigningCertificateV2, RFC 2634's SigningCertificate), which RFC 3161 and
// RFC 5816 require in a token. digitorus/timestamp writes the first but
// reads neither.
var (
	oidSigningCertificateV2 = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 47}
	oidSigningCertificate   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 12}
)

type essCertIDv2 struct {
	HashAlgorithm pkix.AlgorithmIdentifier `asn1:"optional"` // absent: SHA-256
	CertHash      []byte
	IssuerSerial  asn1.RawValue `asn1:"optional"`
}

type signingCertificateV2 struct {
	Certs    []essCertIDv2
	Policies asn1.RawValue `asn1:"optional"`
}

type essCertID struct {
	CertHash     []byte        // SHA-1
	IssuerSerial asn1.RawValue `asn1:"optional"`
}

type signingCertificate struct {
	Certs    []essCertID
	Policies asn1.RawValue `asn1:"optional"`
}

// checkESS holds the signer certificate to the one the signed attributes
// name, so that no other certificate for the same key (an older one, one
// with other usages) can be put in the token in its place.
func checkESS(p7 *pkcs7.PKCS7, signer *x509.Certificate) error {
	var hash crypto.Hash
	var want []byte
	var v2 signingCertificateV2
	var v1 signingCertificate
	switch {
	case p7.UnmarshalSignedAttribute(oidSigningCertificateV2, &v2) == nil && len(v2.Certs) > 0:
		want, hash = v2.Certs[0].CertHash, crypto.SHA256
		switch alg := v2.Certs[0].HashAlgorithm.Algorithm; {
		case len(alg) == 0 || alg.Equal(pkcs7.OIDDigestAlgorithmSHA256):
		case alg.Equal(pkcs7.OIDDigestAlgorithmSHA384):
			hash = crypto.SHA384
		case alg.Equal(pkcs7.OIDDigestAlgorithmSHA512):
			hash = crypto.SHA512
		default:
			return fmt.Errorf("%w: signing certificate named with hash %s", ErrMalformed, alg)
		}
	case p7.UnmarshalSignedAttribute(oidSigningCertificate, &v1) == nil && len(v1.Certs) > 0:
		want, hash = v1.Certs[0].CertHash, crypto.SHA1
	default:
		return fmt.Errorf("%w: no signing-certificate attribute naming the TSA certificate (RFC 3161 section 2.4.2)", ErrMalformed)
	}
	h := hash.New()
	h.Write(signer.Raw)
	if !bytes.Equal(h.Sum(nil), want) {
		return fmt.Errorf("%w: the token carries a TSA certificate (%q, serial %X) other than the one its signed attributes name",
			ErrSignature, signer.Subject.String(), signer.SerialNumber)
	}
	return nil
}
