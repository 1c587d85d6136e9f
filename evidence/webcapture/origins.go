package webcapture

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/courtledger/courtledger/evidence/webcapture/bundle"
)

// describeTraffic fills the manifest's page, redirects, origins (with
// certificate chains as files) and counts, and warns of failed requests.
func describeTraffic(ctx context.Context, b *Bundle, xs []*exchange, cfg Config, warn func(string, ...any)) {
	m := &b.Manifest
	type originAcc struct {
		o   *Origin
		det *network.SecurityDetails
		url *url.URL
	}
	var order []string
	origins := map[string]*originAcc{}
	mainDone := false
	for _, x := range xs {
		m.Resources.Requests++
		if x.failed {
			m.Resources.Failed++
			switch {
			case strings.HasPrefix(x.errText, "net::ERR_CERT_") || strings.HasPrefix(x.errText, "net::ERR_SSL_"):
				warn("TLS error loading %s: %s (not recorded)", x.req.URL, x.errText)
			case x.errText != "net::ERR_ABORTED":
				warn("failed to load %s: %s", x.req.URL, x.errText)
			}
		}
		if x.body != nil {
			m.Resources.Bodies++
			m.Resources.BodyBytes += len(x.body)
		}
		if x.resp == nil {
			continue
		}
		m.Resources.Responses++
		if x.typ == network.ResourceTypeDocument && !mainDone {
			if x.redirect {
				m.Redirects = append(m.Redirects, Redirect{URL: x.resp.URL, Status: x.resp.Status, Location: header(x.resp.Headers, "Location")})
			} else {
				mainDone = true
				r := x.resp
				m.Page.Status, m.Page.MIMEType, m.Page.IP, m.Page.Port, m.Page.Protocol = r.Status, r.MimeType, r.RemoteIPAddress, r.RemotePort, r.Protocol
			}
		}
		u, err := url.Parse(x.resp.URL)
		if err != nil {
			continue
		}
		key := u.Scheme + "://" + u.Host
		acc := origins[key]
		if acc == nil {
			acc = &originAcc{o: &Origin{Origin: key, IPs: []string{}}, url: u}
			origins[key] = acc
			order = append(order, key)
		}
		if ip := x.resp.RemoteIPAddress; ip != "" && !slices.Contains(acc.o.IPs, ip) {
			acc.o.IPs = append(acc.o.IPs, ip)
		}
		if acc.det == nil && x.resp.SecurityDetails != nil {
			acc.det = x.resp.SecurityDetails
		}
	}
	if m.Redirects == nil {
		m.Redirects = []Redirect{}
	}
	m.Origins = []Origin{}
	for i, key := range order {
		acc := origins[key]
		if d := acc.det; d != nil {
			t := &TLSInfo{Protocol: d.Protocol, Cipher: d.Cipher, Subject: d.SubjectName, Issuer: d.Issuer,
				ValidFrom: time.Unix(int64(d.ValidFrom), 0).UTC(), ValidTo: time.Unix(int64(d.ValidTo), 0).UTC()}
			chain := originChain(ctx, key)
			if len(chain) == 0 {
				t.SystemRoots = "unknown: the browser gave no certificate chain"
				warn("TLS: no certificate chain for %s", key)
			} else {
				var pemBuf bytes.Buffer
				for _, c := range chain {
					pem.Encode(&pemBuf, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
				}
				t.Chain = fmt.Sprintf("%s%02d-%s.pem", bundle.CertsDir, i, fileSafe(acc.url.Host))
				b.Add(t.Chain, pemBuf.Bytes())
				// The whole names, from the certificate (the browser gives
				// only the common names).
				t.Subject, t.Issuer = chain[0].Subject.String(), chain[0].Issuer.String()
				t.SystemRoots = systemRoots(chain, acc.url.Hostname())
				if t.SystemRoots != "verified" {
					pin := spki(chain[0])
					if slices.Contains(cfg.AcceptSPKI, pin) {
						t.AcceptedBySPKI = pin
						warn("TLS: %s's certificate does not verify against this machine's roots (%s); the browser accepted it because --accept-spki %s was given", key, t.SystemRoots, pin)
					} else {
						warn("TLS: %s's certificate does not verify against this machine's roots: %s", key, t.SystemRoots)
					}
				}
			}
			acc.o.TLS = t
		}
		m.Origins = append(m.Origins, *acc.o)
	}
	for _, x := range xs {
		if !x.finished && !x.failed {
			x.bodyNote = "still loading when the page was captured"
		}
	}
}

// originChain asks the browser for an origin's certificate chain.
func originChain(ctx context.Context, origin string) []*x509.Certificate {
	res, err := chromedp.Call(ctx, network.GetCertificate, network.GetCertificateParams{Origin: origin})
	if err != nil {
		return nil
	}
	var out []*x509.Certificate
	for _, s := range res.TableNames {
		der, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil
		}
		out = append(out, c)
	}
	return out
}

// systemRoots checks a chain against this machine's roots for host.
func systemRoots(chain []*x509.Certificate, host string) string {
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	if _, err := chain[0].Verify(x509.VerifyOptions{DNSName: host, Intermediates: inter, CurrentTime: time.Now()}); err != nil {
		return err.Error()
	}
	return "verified"
}

// SPKI is the pin Chromium's --ignore-certificate-errors-spki-list takes:
// base64 of the SHA-256 of the certificate's SubjectPublicKeyInfo.
func SPKI(c *x509.Certificate) string { return spki(c) }

func spki(c *x509.Certificate) string {
	return base64.StdEncoding.EncodeToString(sha256Sum(c.RawSubjectPublicKeyInfo))
}

// header reads one header of a CDP header map, case-insensitively.
func header(h network.Headers, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			s, _ := v.(string)
			return s
		}
	}
	return ""
}

func fileSafe(host string) string {
	h, p, err := net.SplitHostPort(host)
	if err != nil {
		h = host
	}
	var b strings.Builder
	for _, r := range h {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	if p != "" {
		b.WriteString("_" + p)
	}
	return b.String()
}

func listSome(urls []string) string {
	if len(urls) == 0 {
		return ""
	}
	const n = 3
	s := ": " + strings.Join(urls[:min(n, len(urls))], ", ")
	if len(urls) > n {
		s += " and " + strconv.Itoa(len(urls)-n) + " more"
	}
	return s
}
