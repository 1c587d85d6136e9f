package webcapture

import (
	"strings"
	"sync"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
)

// exchange is one request and its response, as the browser reported them.
// A redirect is an exchange of its own, with the same request ID as the
// request that follows it.
type exchange struct {
	id       network.RequestID
	typ      network.ResourceType
	req      *network.Request
	wall     time.Time         // when the request was sent
	start    cdp.MonotonicTime // for durations
	end      cdp.MonotonicTime
	resp     *network.Response
	redirect bool
	finished bool
	failed   bool
	errText  string
	encoded  int64 // bytes on the wire
	body     []byte
	bodyNote string // why there is no body, or it is cut
	cut      bool
}

// recorder collects the network events of one tab. chromedp calls listen
// on its event goroutine; everything else reads under mu.
type recorder struct {
	mu       sync.Mutex
	list     []*exchange
	current  map[network.RequestID]*exchange
	last     time.Time // last network event
	loaded   bool      // the main frame's load event fired
	download string    // URL of a download the page started
	now      func() time.Time
}

func newRecorder(now func() time.Time) *recorder {
	return &recorder{current: map[network.RequestID]*exchange{}, now: now, last: now()}
}

// recorded says whether a URL's traffic is recorded: data: and blob: URLs
// are not network traffic.
func recorded(u string) bool {
	return strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://")
}

func (r *recorder) listen(ev any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch e := ev.(type) {
	case *network.EventRequestWillBeSent:
		if e.Request == nil || !recorded(e.Request.URL) {
			return
		}
		r.last = r.now()
		if prev := r.current[e.RequestID]; prev != nil && e.RedirectResponse != nil {
			prev.resp, prev.redirect, prev.finished, prev.end = e.RedirectResponse, true, true, e.Timestamp
		}
		x := &exchange{id: e.RequestID, typ: e.Type, req: e.Request, start: e.Timestamp,
			wall: time.UnixMicro(int64(float64(e.WallTime) * 1e6))}
		r.current[e.RequestID] = x
		r.list = append(r.list, x)
	case *network.EventResponseReceived:
		if x := r.current[e.RequestID]; x != nil {
			r.last = r.now()
			x.resp = e.Response
		}
	case *network.EventLoadingFinished:
		if x := r.current[e.RequestID]; x != nil {
			r.last = r.now()
			x.finished, x.end, x.encoded = true, e.Timestamp, int64(e.EncodedDataLength)
		}
	case *network.EventLoadingFailed:
		if x := r.current[e.RequestID]; x != nil {
			r.last = r.now()
			x.failed, x.end, x.errText = true, e.Timestamp, e.ErrorText
		}
	case *page.EventLoadEventFired:
		r.loaded = true
	case *browser.EventDownloadWillBegin:
		r.download = e.URL
	}
}

// idle reports whether no request is open and none was for quiet.
func (r *recorder) idle(quiet time.Duration) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.loaded && len(r.openLocked()) == 0 && r.now().Sub(r.last) >= quiet
}

func (r *recorder) isLoaded() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.loaded
}

func (r *recorder) downloadURL() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.download
}

// open lists the URLs of requests still in flight.
func (r *recorder) open() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.openLocked()
}

func (r *recorder) openLocked() []string {
	var out []string
	for _, x := range r.list {
		if !x.finished && !x.failed {
			out = append(out, x.req.URL)
		}
	}
	return out
}

// snapshot returns copies of the exchanges recorded so far; events that
// arrive later do not change them.
func (r *recorder) snapshot() []*exchange {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*exchange, len(r.list))
	for i, x := range r.list {
		c := *x
		out[i] = &c
	}
	return out
}
