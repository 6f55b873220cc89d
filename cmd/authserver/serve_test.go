package main

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestHTTPServerLimits: both listeners' http.Server has every timeout and
// a header cap, so a slow or oversized client cannot pin a connection
// . Body caps are per route (authserver).
func TestHTTPServerLimits(t *testing.T) {
	hs := newHTTPServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}), slog.New(slog.DiscardHandler))
	if hs.ReadHeaderTimeout != 5*time.Second || hs.ReadTimeout != 30*time.Second || hs.WriteTimeout != 30*time.Second ||
		hs.IdleTimeout != 2*time.Minute || hs.MaxHeaderBytes != 32<<10 {
		t.Fatalf("timeouts %v %v %v %v, header cap %d", hs.ReadHeaderTimeout, hs.ReadTimeout, hs.WriteTimeout,
			hs.IdleTimeout, hs.MaxHeaderBytes)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go hs.Serve(ln) // returns when the server is closed below
	t.Cleanup(func() { hs.Close() })
	addr := ln.Addr().String()

	t.Run("a client sending its headers one byte a second is cut off", func(t *testing.T) {
		t.Parallel()
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		start := time.Now()
		go func() {
			// Slowloris: a request that never finishes its headers. Write
			// errors end the trickle once the server has hung up.
			for _, b := range []byte("GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("a", 60)) {
				if _, err := conn.Write([]byte{b}); err != nil {
					return
				}
				time.Sleep(time.Second)
			}
		}()
		conn.SetReadDeadline(time.Now().Add(15 * time.Second))
		_, err = io.ReadAll(conn) // returns when the server closes the connection
		elapsed := time.Since(start)
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("still connected after %v", elapsed)
		}
		if elapsed < 4*time.Second || elapsed > 8*time.Second {
			t.Fatalf("cut off after %v, want about the 5 s ReadHeaderTimeout", elapsed)
		}
	})

	t.Run("headers over 32 KiB are refused with 431", func(t *testing.T) {
		t.Parallel()
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		go io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: "+strings.Repeat("a", 64<<10)+"\r\n\r\n")
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("status %d, want 431", resp.StatusCode)
		}
	})

	t.Run("an idle keep-alive connection is served normally", func(t *testing.T) {
		t.Parallel()
		resp, err := http.Get("http://" + addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
}
