package webcapture

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// HAR 1.2 (http://www.softwareishard.com/blog/har-12-spec/), the fields a
// viewer needs. Bodies are base64 unless they are UTF-8 text.
type harLog struct {
	Log struct {
		Version string     `json:"version"`
		Creator harCreator `json:"creator"`
		Browser harCreator `json:"browser"`
		Pages   []harPage  `json:"pages"`
		Entries []harEntry `json:"entries"`
	} `json:"log"`
}

type harCreator struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

type harPage struct {
	StartedDateTime string         `json:"startedDateTime"`
	ID              string         `json:"id"`
	Title           string         `json:"title"`
	PageTimings     map[string]int `json:"pageTimings"`
}

type harNV struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type harEntry struct {
	Pageref         string         `json:"pageref"`
	StartedDateTime string         `json:"startedDateTime"`
	Time            float64        `json:"time"`
	Request         harRequest     `json:"request"`
	Response        harResponse    `json:"response"`
	Cache           struct{}       `json:"cache"`
	Timings         map[string]int `json:"timings"`
	ServerIPAddress string         `json:"serverIPAddress,omitempty"`
	Comment         string         `json:"comment,omitempty"`
}

type harRequest struct {
	Method      string   `json:"method"`
	URL         string   `json:"url"`
	HTTPVersion string   `json:"httpVersion"`
	Cookies     []harNV  `json:"cookies"`
	Headers     []harNV  `json:"headers"`
	QueryString []harNV  `json:"queryString"`
	PostData    *harPost `json:"postData,omitempty"`
	HeadersSize int      `json:"headersSize"`
	BodySize    int      `json:"bodySize"`
}

type harPost struct {
	MimeType string `json:"mimeType"`
	Text     string `json:"text"`
}

type harResponse struct {
	Status      int64      `json:"status"`
	StatusText  string     `json:"statusText"`
	HTTPVersion string     `json:"httpVersion"`
	Cookies     []harNV    `json:"cookies"`
	Headers     []harNV    `json:"headers"`
	Content     harContent `json:"content"`
	RedirectURL string     `json:"redirectURL"`
	HeadersSize int        `json:"headersSize"`
	BodySize    int64      `json:"bodySize"`
}

type harContent struct {
	Size     int    `json:"size"`
	MimeType string `json:"mimeType"`
	Text     string `json:"text,omitempty"`
	Encoding string `json:"encoding,omitempty"`
	Comment  string `json:"comment,omitempty"`
}

func nvs(h [][2]string) []harNV {
	out := []harNV{}
	for _, kv := range h {
		out = append(out, harNV{kv[0], kv[1]})
	}
	return out
}

// writeHAR writes every exchange as a HAR 1.2 entry; one that got no
// response has status 0 and its error as comment.
func writeHAR(xs []*exchange, m *Manifest, software string) ([]byte, error) {
	var h harLog
	l := &h.Log
	l.Version = "1.2"
	l.Creator = harCreator{software, Format}
	l.Browser = harCreator{"Chromium", m.Browser.Product}
	l.Pages = []harPage{{StartedDateTime: m.StartedAt.Format(time.RFC3339Nano), ID: "page-1", Title: m.Title, PageTimings: map[string]int{"onContentLoad": -1, "onLoad": -1}}}
	l.Entries = []harEntry{}
	for _, x := range xs {
		e := harEntry{Pageref: "page-1", StartedDateTime: x.wall.UTC().Format(time.RFC3339Nano),
			Timings: map[string]int{"send": 0, "wait": 0, "receive": 0}, Comment: x.bodyNote}
		if x.end > 0 {
			e.Time = max(0, (float64(x.end)-float64(x.start))*1000)
			e.Timings["wait"] = int(e.Time)
		}
		e.Request = harRequest{Method: x.req.Method, URL: x.req.URL, HTTPVersion: "HTTP/1.1", Cookies: []harNV{},
			Headers: nvs(splitHeaders(x.req.Headers, nil)), QueryString: []harNV{}, HeadersSize: -1}
		if u, err := url.Parse(x.req.URL); err == nil {
			for k, vs := range u.Query() {
				for _, v := range vs {
					e.Request.QueryString = append(e.Request.QueryString, harNV{k, v})
				}
			}
		}
		if len(x.req.PostDataEntries) > 0 {
			var sb strings.Builder
			for _, pd := range x.req.PostDataEntries {
				sb.Write(pd.Bytes)
			}
			e.Request.PostData = &harPost{MimeType: header(x.req.Headers, "Content-Type"), Text: sb.String()}
			e.Request.BodySize = sb.Len()
		}
		if x.failed {
			e.Comment = strings.TrimSpace(e.Comment + " failed: " + x.errText)
		}
		if r := x.resp; r != nil {
			text := r.StatusText
			if text == "" {
				text = http.StatusText(int(r.Status))
			}
			e.ServerIPAddress = strings.Trim(r.RemoteIPAddress, "[]")
			e.Response = harResponse{Status: r.Status, StatusText: text, HTTPVersion: protocolName(r.Protocol), Cookies: []harNV{},
				Headers: nvs(splitHeaders(r.Headers, nil)), RedirectURL: header(r.Headers, "Location"), HeadersSize: -1, BodySize: x.encoded,
				Content: harContent{Size: len(x.body), MimeType: r.MimeType, Comment: x.bodyNote}}
			if utf8.Valid(x.body) {
				e.Response.Content.Text = string(x.body)
			} else {
				e.Response.Content.Text, e.Response.Content.Encoding = base64.StdEncoding.EncodeToString(x.body), "base64"
			}
		} else {
			e.Response = harResponse{Cookies: []harNV{}, Headers: []harNV{}, HTTPVersion: "", HeadersSize: -1, BodySize: -1,
				Content: harContent{MimeType: "x-unknown"}}
		}
		l.Entries = append(l.Entries, e)
	}
	b, err := json.MarshalIndent(&h, "", " ")
	if err != nil {
		return nil, fmt.Errorf("har: %w", err)
	}
	return b, nil
}

func protocolName(p string) string {
	switch p {
	case "h2":
		return "HTTP/2"
	case "h3":
		return "HTTP/3"
	case "":
		return "HTTP/1.1"
	}
	return strings.ToUpper(p)
}
