package authserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"authserver/internal/httpx"
)

// This file is what every request goes through before its handler: a
// request id, the client's address, one access-log line, and the HTTP
// metrics.

// requestIDHeader carries the request id in both directions.
const requestIDHeader = "X-Request-Id"

// maxRequestIDLen bounds a request id accepted from a client.
const maxRequestIDLen = 128

type requestIDKey struct{}

// requestID is the request id ctx carries, or "".
func requestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

type clientAddrKey struct{}

// clientAddr is the address of the client that sent r, as observed named
// it with the server's one httpx.ClientAddr rule, so that the rate limits,
// audit events and log lines of a request all name the same client; "" when
// the socket peer is no IP address (a Unix socket). A request that did not
// pass through observed (a test calling a handler directly) trusts no
// proxy: its client is the socket peer.
func clientAddr(r *http.Request) string {
	if s, ok := r.Context().Value(clientAddrKey{}).(string); ok {
		return s
	}
	return addrString(httpx.ClientAddr{}.Of(r))
}

// addrString is a client address as logged and stored: "" for none.
func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// newRequestID is a fresh request id: 16 random bytes, hex-encoded.
func newRequestID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}

// validRequestID reports whether a client's request id may be kept: 1 to
// 128 characters of [A-Za-z0-9._-].
func validRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// credentialShaped reports request ids that could be a credential: one
// holding the PAT prefix, or dot-separated like a JWT. A client that sends
// its token as its request id must not get it logged.
func credentialShaped(patPrefix string) func(id string) bool {
	return func(id string) bool {
		return patPrefix != "" && strings.Contains(id, patPrefix) || strings.Count(id, ".") >= 2
	}
}

// requestIDHandler is a slog.Handler that adds the request id of the
// record's context as request_id, so that every log.…Context(ctx, …) call
// made while serving a request names it, whichever logger it goes through.
type requestIDHandler struct{ slog.Handler }

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := requestID(ctx); id != "" {
		// A copy that shares nothing with the caller's record.
		r = r.Clone()
		r.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h requestIDHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(attrs)}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name)}
}

// withRequestIDs returns a logger whose lines carry the request id of their
// context (once, however often it is wrapped).
func withRequestIDs(log *slog.Logger) *slog.Logger {
	if _, ok := log.Handler().(requestIDHandler); ok {
		return log
	}
	return slog.New(requestIDHandler{log.Handler()})
}

// observed wraps a handler with a request id, the client's address, an
// access-log line and, when metrics is set, the HTTP metrics.
//
// The access log and the metrics name the route pattern the mux matched
// (routeLabel), never the request's path or query: a path is unbounded and
// may hold anything a client typed, a token included. Headers and bodies
// are never logged.
type observed struct {
	next http.Handler
	log  *slog.Logger
	// level is the access log's level: info for the public listener, debug
	// for the telemetry one, which probes and scrapes call every few
	// seconds.
	level slog.Level
	// metrics counts requests; nil counts nothing.
	metrics *metrics
	// addrs names the client of each request (clientAddr).
	addrs httpx.ClientAddr
	// looksSecret refuses a client's request id that looks like a
	// credential (a PAT, a JWT) so that a confused client cannot put one
	// into the logs; nil accepts any valid id.
	looksSecret func(id string) bool
}

func (o *observed) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	id := r.Header.Get(requestIDHeader)
	if !validRequestID(id) || o.looksSecret != nil && o.looksSecret(id) {
		id = newRequestID()
	}
	w.Header().Set(requestIDHeader, id)
	// r is a copy from here on: the mux records the pattern it matched in
	// it (Request.Pattern), where the deferred call below reads it.
	ctx := context.WithValue(r.Context(), requestIDKey{}, id)
	ctx = context.WithValue(ctx, clientAddrKey{}, addrString(o.addrs.Of(r)))
	r = r.WithContext(ctx)
	rw := &recorder{ResponseWriter: w}
	defer func() {
		if p := recover(); p != nil {
			// net/http logs the panic and drops the connection; the
			// request is still logged and counted, as a 500.
			if rw.status == 0 {
				rw.status = http.StatusInternalServerError
			}
			o.done(r, rw, start)
			panic(p)
		}
	}()
	o.next.ServeHTTP(rw, r)
	o.done(r, rw, start)
}

// done logs and counts a served request.
func (o *observed) done(r *http.Request, rw *recorder, start time.Time) {
	elapsed := time.Since(start)
	status := rw.status
	if status == 0 {
		status = http.StatusOK // nothing written: net/http answers 200
	}
	route := routeLabel(r.Pattern)
	if o.metrics != nil {
		o.metrics.httpRequests.WithLabelValues(route, strconv.Itoa(status)).Inc()
		o.metrics.httpDuration.WithLabelValues(route).Observe(elapsed.Seconds())
	}
	ctx := r.Context()
	if !o.log.Enabled(ctx, o.level) {
		return
	}
	o.log.LogAttrs(ctx, o.level, "http request",
		slog.String("method", methodLabel(r.Method)),
		slog.String("route", route),
		slog.Int("status", status),
		slog.Int64("bytes", rw.bytes),
		slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
		slog.String("client_addr", clientAddr(r)),
	) // request_id: added by requestIDHandler from ctx
}

// routeLabel is the handler label of a request: the pattern the mux
// matched ("/oauth2/token", "GET /api/v1/me/pats/{id}"), "console" for
// anything under /console, and "not_found" when no pattern matched (the
// mux's own 404, 405 and redirects). Patterns are a fixed set, so the
// label is bounded.
func routeLabel(pattern string) string {
	if pattern == "" {
		return "not_found"
	}
	path := pattern
	if i := strings.IndexByte(path, ' '); i >= 0 {
		path = strings.TrimLeft(path[i:], " ")
	}
	if i := strings.IndexByte(path, '/'); i > 0 {
		path = path[i:] // drop a host
	}
	if path == "/console" || strings.HasPrefix(path, "/console/") {
		return "console"
	}
	return pattern
}

// methodLabel is the request method as logged: a standard method, or
// "OTHER" (a method is any token a client chooses to send).
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return m
	}
	return "OTHER"
}

// recorder remembers the status and counts the body bytes of a response.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *recorder) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Flush passes a flush on when the underlying writer can.
func (w *recorder) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }
