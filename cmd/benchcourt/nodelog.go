package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
)

// openCourtLog is the nodes' log file in the working directory.
func openCourtLog(dir string) (*os.File, *logCounter, error) {
	f, err := os.Create(filepath.Join(dir, "court.log"))
	if err != nil {
		return nil, nil, err
	}
	return f, newLogCounter(f), nil
}

// logCounter is the nodes' slog handler: text lines to a file, and a count
// of warnings and errors with the first few kept, for the report.
type logCounter struct {
	slog.Handler
	shared *logTally
}

type logTally struct {
	mu    sync.Mutex
	warns int
	first []string
}

func newLogCounter(w io.Writer) *logCounter {
	return &logCounter{Handler: slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}), shared: &logTally{}}
}

func (h *logCounter) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		t := h.shared
		t.mu.Lock()
		t.warns++
		if len(t.first) < 5 {
			t.first = append(t.first, r.Message+attrText(r))
		}
		t.mu.Unlock()
	}
	return h.Handler.Handle(ctx, r)
}

func attrText(r slog.Record) string {
	s := ""
	r.Attrs(func(a slog.Attr) bool {
		s += " " + a.String()
		return true
	})
	return s
}

func (h *logCounter) WithAttrs(as []slog.Attr) slog.Handler {
	return &logCounter{Handler: h.Handler.WithAttrs(as), shared: h.shared}
}

func (h *logCounter) WithGroup(name string) slog.Handler {
	return &logCounter{Handler: h.Handler.WithGroup(name), shared: h.shared}
}

// warnings returns how many warnings and errors the nodes logged so far,
// and the first few.
func (h *logCounter) warnings() (int, []string) {
	h.shared.mu.Lock()
	defer h.shared.mu.Unlock()
	return h.shared.warns, append([]string(nil), h.shared.first...)
}
