package main

import (
	"bytes"
	"testing"
	"testing/synctest"
	"time"
)

// TestLogBufferWritesEveryIntervalAndOnClose: lines reach the output at the
// next interval, not at each write, and Close writes what is pending.
func TestLogBufferWritesEveryIntervalAndOnClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var out bytes.Buffer
		b := newLogBuffer(&out, time.Second)
		written := func() string {
			b.mu.Lock() // the flusher writes to out under it
			defer b.mu.Unlock()
			return out.String()
		}
		b.Write([]byte("one\n"))
		synctest.Wait()
		if got := written(); got != "" {
			t.Fatalf("written before the interval: %q", got)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if got := written(); got != "one\n" {
			t.Fatalf("after one interval the output is %q, want the first line", got)
		}
		b.Write([]byte("two\n"))
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		if got := written(); got != "one\ntwo\n" {
			t.Fatalf("after Close the output is %q, want both lines", got)
		}
	})
}
