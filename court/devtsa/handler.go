package devtsa

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"
)

// MaxQuery bounds a request's body: a TimeStampReq is about 100 bytes.
const MaxQuery = 4 << 10

// Handler answers RFC 3161 over HTTP (section 3.4): a POST of
// application/timestamp-query gets an application/timestamp-reply, a token
// or a rejection saying what is wrong with the query. Other methods get
// 405, other media types 415, bodies over MaxQuery 413, and every request
// 503 while the TSA is Down; with a Delay, every answer comes that late.
func (t *TSA) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d := t.Faults().Delay; d > 0 {
			timer := time.NewTimer(d)
			select {
			case <-timer.C:
			case <-r.Context().Done():
				timer.Stop()
				return
			}
		}
		if t.Faults().Down {
			w.Header().Set("Retry-After", "1")
			http.Error(w, "development TSA: down (a test's fault)", http.StatusServiceUnavailable)
			return
		}
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "POST an RFC 3161 TimeStampReq (Content-Type application/timestamp-query)", http.StatusMethodNotAllowed)
			return
		}
		if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/timestamp-query" {
			http.Error(w, "Content-Type must be application/timestamp-query (RFC 3161 section 3.4)", http.StatusUnsupportedMediaType)
			return
		}
		query, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxQuery))
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			http.Error(w, "a TimeStampReq is about 100 bytes; this one is over "+strconv.Itoa(MaxQuery), http.StatusRequestEntityTooLarge)
			return
		case err != nil:
			http.Error(w, "reading the request: "+err.Error(), http.StatusBadRequest)
			return
		}
		reply := t.Respond(query)
		w.Header().Set("Content-Type", "application/timestamp-reply")
		w.Header().Set("Content-Length", strconv.Itoa(len(reply)))
		w.Write(reply)
	})
}
