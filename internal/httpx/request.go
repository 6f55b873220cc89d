package httpx

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/netip"
)

// RequestIDHeader carries the request id in both directions.
const RequestIDHeader = "X-Request-Id"

// maxRequestIDLen bounds a request id accepted from a client.
const maxRequestIDLen = 128

type requestIDKey struct{}

// RequestID is the request id ctx carries, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// WithRequestID returns ctx carrying the request id id.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

type clientAddrKey struct{}

// WithClientAddr returns ctx carrying the client address addr ("" for
// none), as the access-log middleware names it with the server's one
// ClientAddr rule.
func WithClientAddr(ctx context.Context, addr string) context.Context {
	return context.WithValue(ctx, clientAddrKey{}, addr)
}

// ClientAddrOf is the address of the client that sent r, as the access-log
// middleware named it with the server's one ClientAddr rule
// (WithClientAddr), so that the rate limits, audit events and log lines of
// a request all name the same client; "" when the socket peer is no IP
// address (a Unix socket). A request that did not pass through the
// middleware (a test calling a handler directly) trusts no proxy: its
// client is the socket peer.
func ClientAddrOf(r *http.Request) string {
	if s, ok := r.Context().Value(clientAddrKey{}).(string); ok {
		return s
	}
	return AddrString(ClientAddr{}.Of(r))
}

// ClientAddrFrom is the client address ctx carries (WithClientAddr), or ""
// when it carries none. Handlers that see only the request's context (the
// token-exchange grant) read it here.
func ClientAddrFrom(ctx context.Context) string {
	s, _ := ctx.Value(clientAddrKey{}).(string)
	return s
}

// AddrString is a client address as logged and stored: "" for none.
func AddrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// NewRequestID is a fresh request id: 16 random bytes, hex-encoded.
func NewRequestID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}

// ValidRequestID reports whether a client's request id may be kept: 1 to
// 128 characters of [A-Za-z0-9._-].
func ValidRequestID(id string) bool {
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

// requestIDHandler is a slog.Handler that adds the request id of the
// record's context as request_id, so that every log.…Context(ctx, …) call
// made while serving a request names it, whichever logger it goes through.
type requestIDHandler struct{ slog.Handler }

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := RequestID(ctx); id != "" {
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

// WithRequestIDs returns a logger whose lines carry the request id of their
// context (once, however often it is wrapped).
func WithRequestIDs(log *slog.Logger) *slog.Logger {
	if _, ok := log.Handler().(requestIDHandler); ok {
		return log
	}
	return slog.New(requestIDHandler{log.Handler()})
}
