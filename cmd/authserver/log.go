package main

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"authserver/config"
	"authserver/internal/periodic"
)

// newLogger builds the process logger on out: JSON, or text when asked or,
// under "auto", when the process writes to a terminal.
func newLogger(c config.Log, out io.Writer, terminal bool) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.Level)); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "text" || (c.Format == "auto" || c.Format == "") && terminal {
		return slog.New(slog.NewTextHandler(out, opts))
	}
	return slog.New(slog.NewJSONHandler(out, opts))
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// logBuffer batches log lines into one write every interval (or whenever
// 64 KiB are pending), instead of one write(2) per line: with an access-log
// line per request, the system call was a measurable part of each token
// exchange. Lines stay whole (slog writes each record in one Write). The
// cost: on a crash, up to one interval of lines is lost; Close flushes.
type logBuffer struct {
	mu   sync.Mutex
	w    *bufio.Writer
	stop context.CancelFunc
	done chan struct{}
}

func newLogBuffer(w io.Writer, interval time.Duration) *logBuffer {
	ctx, stop := context.WithCancel(context.Background())
	b := &logBuffer{w: bufio.NewWriterSize(w, 64<<10), stop: stop, done: make(chan struct{})}
	// The flusher exits when Close is called.
	go func() {
		defer close(b.done)
		periodic.Every(ctx, interval, func(context.Context) {
			b.mu.Lock()
			_ = b.w.Flush()
			b.mu.Unlock()
		})
	}()
	return b
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.w.Write(p)
}

// Close stops the flusher and writes what is pending.
func (b *logBuffer) Close() error {
	b.stop()
	<-b.done
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.w.Flush()
}
