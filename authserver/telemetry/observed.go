package telemetry

import (
	"log/slog"
	"net/http"
	"strings"
	"time"

	"authserver/internal/httpx"
)

// This file is what every request goes through before its handler: a
// request id, the client's address, one access-log line, and the HTTP
// metrics.

// CredentialShaped reports request ids that could be a credential: one
// holding the PAT prefix, or dot-separated like a JWT. A client that sends
// its token as its request id must not get it logged.
func CredentialShaped(patPrefix string) func(id string) bool {
	return func(id string) bool {
		return patPrefix != "" && strings.Contains(id, patPrefix) || strings.Count(id, ".") >= 2
	}
}

// Observed wraps a handler with a request id, the client's address, an
// access-log line and, when Metrics is set, the HTTP metrics.
//
// The access log and the metrics name the route pattern the mux matched
// (routeLabel), never the request's path or query: a path is unbounded and
// may hold anything a client typed, a token included. Headers and bodies
// are never logged.
type Observed struct {
	Next http.Handler
	Log  *slog.Logger
	// Level is the access log's level: info for the public listener, debug
	// for the telemetry one, which probes and scrapes call every few
	// seconds.
	Level slog.Level
	// Metrics counts requests; nil counts nothing.
	Metrics *Metrics
	// Addrs names the client of each request (httpx.ClientAddrOf).
	Addrs httpx.ClientAddr
	// LooksSecret refuses a client's request id that looks like a
	// credential (a PAT, a JWT) so that a confused client cannot put one
	// into the logs; nil accepts any valid id.
	LooksSecret func(id string) bool
}

func (o *Observed) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	id := r.Header.Get(httpx.RequestIDHeader)
	if !httpx.ValidRequestID(id) || o.LooksSecret != nil && o.LooksSecret(id) {
		id = httpx.NewRequestID()
	}
	w.Header().Set(httpx.RequestIDHeader, id)
	// r is a copy from here on: the mux records the pattern it matched in
	// it (Request.Pattern), where the deferred call below reads it.
	ctx := httpx.WithRequestID(r.Context(), id)
	ctx = httpx.WithClientAddr(ctx, httpx.AddrString(o.Addrs.Of(r)))
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
	o.Next.ServeHTTP(rw, r)
	o.done(r, rw, start)
}

// done logs and counts a served request.
func (o *Observed) done(r *http.Request, rw *recorder, start time.Time) {
	elapsed := time.Since(start)
	status := rw.status
	if status == 0 {
		status = http.StatusOK // nothing written: net/http answers 200
	}
	route := routeLabel(r.Pattern)
	if o.Metrics != nil {
		c := o.Metrics.httpChildrenOf(route, status)
		c.requests.Inc()
		c.duration.Observe(elapsed.Seconds())
	}
	ctx := r.Context()
	if !o.Log.Enabled(ctx, o.Level) {
		return
	}
	o.Log.LogAttrs(ctx, o.Level, "http request",
		slog.String("method", methodLabel(r.Method)),
		slog.String("route", route),
		slog.Int("status", status),
		slog.Int64("bytes", rw.bytes),
		slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
		slog.String("client_addr", httpx.ClientAddrOf(r)),
	) // request_id: added by httpx.WithRequestIDs from ctx
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
