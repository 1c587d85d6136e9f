package webcapture

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/nlnwa/gowarc/v3"
)

// Headers the browser undid before handing over a body: the body recorded
// is decoded, so these would misdescribe it. Content-Length is set to the
// body recorded.
var droppedHeaders = []string{"content-encoding", "transfer-encoding", "content-length"}

func sha256Sum(b []byte) []byte { s := sha256.Sum256(b); return s[:] }

func recordID() string {
	var u [16]byte
	rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("<urn:uuid:%x-%x-%x-%x-%x>", u[0:4], u[4:6], u[6:8], u[8:10], u[10:])
}

// splitHeaders turns CDP's header map (several values joined by "\n")
// into sorted name/value lines.
func splitHeaders(h network.Headers, drop []string) [][2]string {
	var out [][2]string
	for k, v := range h {
		if slices.Contains(drop, strings.ToLower(k)) {
			continue
		}
		s, _ := v.(string)
		for _, line := range strings.Split(s, "\n") {
			out = append(out, [2]string{k, line})
		}
	}
	slices.SortStableFunc(out, func(a, b [2]string) int { return strings.Compare(strings.ToLower(a[0]), strings.ToLower(b[0])) })
	return out
}

func requestBlock(x *exchange) []byte {
	var b bytes.Buffer
	u, _ := url.Parse(x.req.URL)
	target := "/"
	if u != nil {
		target = u.RequestURI()
	}
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\n", x.req.Method, target)
	hs := splitHeaders(x.req.Headers, nil)
	if u != nil && !slices.ContainsFunc(hs, func(h [2]string) bool { return strings.EqualFold(h[0], "host") }) {
		fmt.Fprintf(&b, "Host: %s\r\n", u.Host)
	}
	for _, h := range hs {
		fmt.Fprintf(&b, "%s: %s\r\n", h[0], h[1])
	}
	b.WriteString("\r\n")
	for _, e := range x.req.PostDataEntries {
		b.Write(e.Bytes)
	}
	return b.Bytes()
}

func responseBlock(x *exchange) []byte {
	var b bytes.Buffer
	text := x.resp.StatusText
	if text == "" {
		text = http.StatusText(int(x.resp.Status))
	}
	fmt.Fprintf(&b, "HTTP/1.1 %d %s\r\n", x.resp.Status, text)
	for _, h := range splitHeaders(x.resp.Headers, droppedHeaders) {
		fmt.Fprintf(&b, "%s: %s\r\n", h[0], h[1])
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n", len(x.body))
	b.Write(x.body)
	return b.Bytes()
}

// writeWARC writes the exchanges as WARC 1.1, gzip member per record: a
// warcinfo record, then per exchange a request record and, if there was a
// response, a response record (WARC-Truncated when its body was cut). It
// also returns a CDXJ index of the response records.
func writeWARC(xs []*exchange, m *Manifest, software string, warn func(string, ...any)) ([]byte, []byte, error) {
	var out, cdxj bytes.Buffer
	opts := []gowarc.WarcRecordOption{gowarc.WithAddMissingDigest(true), gowarc.WithAddMissingContentLength(true),
		gowarc.WithFixContentLength(true)}
	marshal := gowarc.NewMarshaler()
	put := func(t gowarc.RecordType, id string, hdr [][2]string, block []byte) (int64, int64, error) {
		rb := gowarc.NewRecordBuilder(t, opts...)
		if _, err := rb.Write(block); err != nil {
			return 0, 0, err
		}
		rb.AddWarcHeader(gowarc.WarcRecordID, id)
		for _, h := range hdr {
			rb.AddWarcHeader(h[0], h[1])
		}
		rec, validation, err := rb.Build()
		if err != nil {
			return 0, 0, fmt.Errorf("warc record: %w", err)
		}
		if len(validation) > 0 {
			// Kept (it is what was received), and said.
			warn("WARC %s record of %s: %v", t, rec.WarcHeader().Get(gowarc.WarcTargetURI), validation)
		}
		defer rec.Close()
		start := int64(out.Len())
		gz := gzip.NewWriter(&out)
		if _, _, err := marshal.Marshal(gz, rec, 0); err != nil {
			return 0, 0, fmt.Errorf("warc record: %w", err)
		}
		if err := gz.Close(); err != nil {
			return 0, 0, err
		}
		return start, int64(out.Len()) - start, nil
	}
	date := m.StartedAt.UTC().Format(time.RFC3339Nano)
	info := fmt.Sprintf("software: %s\r\nformat: WARC File Format 1.1\r\nconformsTo: https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/\r\nhttp-header-user-agent: %s\r\ndescription: capture of %s; bodies as the browser decoded them (Content-Encoding and Transfer-Encoding removed, Content-Length of the body recorded)\r\n",
		software, m.Browser.UserAgent, m.URL)
	if _, _, err := put(gowarc.Warcinfo, recordID(), [][2]string{{gowarc.WarcDate, date}, {gowarc.WarcFilename, "data.warc.gz"},
		{gowarc.ContentType, "application/warc-fields"}}, []byte(info)); err != nil {
		return nil, nil, err
	}
	for _, x := range xs {
		when := x.wall.UTC().Format(time.RFC3339Nano)
		reqID := recordID()
		if _, _, err := put(gowarc.Request, reqID, [][2]string{{gowarc.WarcDate, when}, {gowarc.WarcTargetURI, x.req.URL},
			{gowarc.ContentType, "application/http;msgtype=request"}}, requestBlock(x)); err != nil {
			return nil, nil, err
		}
		if x.resp == nil {
			continue
		}
		hdr := [][2]string{{gowarc.WarcDate, when}, {gowarc.WarcTargetURI, x.req.URL}, {gowarc.WarcConcurrentTo, reqID},
			{gowarc.ContentType, "application/http;msgtype=response"}}
		if ip := x.resp.RemoteIPAddress; ip != "" {
			hdr = append(hdr, [2]string{gowarc.WarcIPAddress, strings.Trim(ip, "[]")})
		}
		if x.cut {
			hdr = append(hdr, [2]string{gowarc.WarcTruncated, "length"})
		}
		block := responseBlock(x)
		off, n, err := put(gowarc.Response, recordID(), hdr, block)
		if err != nil {
			return nil, nil, err
		}
		line, _ := json.Marshal(map[string]string{"url": x.req.URL, "mime": x.resp.MimeType, "status": strconv.FormatInt(x.resp.Status, 10),
			"digest": "sha256:" + fmt.Sprintf("%x", sha256Sum(x.body)), "length": strconv.FormatInt(n, 10),
			"offset": strconv.FormatInt(off, 10), "filename": "data.warc.gz"})
		fmt.Fprintf(&cdxj, "%s %s %s\n", surt(x.req.URL), x.wall.UTC().Format("20060102150405"), line)
	}
	lines := strings.SplitAfter(strings.TrimSuffix(cdxj.String(), "\n"), "\n")
	if cdxj.Len() == 0 {
		lines = nil
	}
	slices.Sort(lines)
	idx := strings.Join(lines, "")
	if idx != "" && !strings.HasSuffix(idx, "\n") {
		idx += "\n"
	}
	return out.Bytes(), []byte(idx), nil
}

// surt is the sort-friendly URI form CDXJ indexes by, as ReplayWeb.page
// (wabac.js) computes it for lookups: lower-cased, a leading "www." (or
// www2. ...) dropped, host labels reversed and joined by commas, the port
// if not the scheme's default, ")", the path, and the query with its
// parameters sorted by name.
func surt(raw string) string {
	u, err := url.Parse(strings.ToLower(raw))
	if err != nil || u.Host == "" {
		return strings.ToLower(raw)
	}
	host := wwwPrefix.ReplaceAllString(u.Hostname(), "")
	labels := strings.Split(host, ".")
	slices.Reverse(labels)
	out := strings.Join(labels, ",")
	if p := u.Port(); p != "" && !(u.Scheme == "http" && p == "80") && !(u.Scheme == "https" && p == "443") {
		out += ":" + p
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	out += ")" + path
	if u.RawQuery != "" {
		out += "?" + u.Query().Encode()
	}
	return out
}

var wwwPrefix = regexp.MustCompile(`^www\d*\.`)

// pagesJSONL is WACZ's pages/pages.jsonl: a header line, then the page.
func pagesJSONL(m *Manifest) []byte {
	var b bytes.Buffer
	h, _ := json.Marshal(map[string]string{"format": "json-pages-1.0", "id": "pages", "title": "All Pages"})
	b.Write(h)
	b.WriteByte('\n')
	p, _ := json.Marshal(map[string]string{"id": "page-1", "url": m.FinalURL, "ts": m.StartedAt.UTC().Format(time.RFC3339Nano), "title": m.Title})
	b.Write(p)
	b.WriteByte('\n')
	return b.Bytes()
}
