// Package dpop checks DPoP proofs (RFC 9449) for the token endpoint and the
// management API: one implementation, so that a proof gets one verdict
// wherever it is presented.
//
// A proof is a compact JWS in the DPoP header. Check accepts it when it is
// the request's only DPoP header; its typ is dpop+jwt; its alg is one of
// Algorithms (asymmetric only: never none or an HMAC); its jwk header is a
// public key without private members (RSA of at least 2048 bits); the
// signature verifies with that key; htm is the request's method and htu its
// URL (as the issuer names it, without query or fragment); iat is within
// the proof window of now (plus Skew either way); ath, for a request
// carrying an access token, is the token's hash; nonce, when nonces are on,
// is one this server issued lately; and jti has not been seen before. The
// last check is made in the database (Store.UseDPoPProof), so a proof
// replayed to another replica is refused there too.
//
// Nonces are valid on every replica without any per-nonce state: a nonce is
// a time step (the proof window long) and a MAC of it under a secret that
// every replica reads from the database (Store.DPoPNonceSecret; the first
// replica to need one stores it). A nonce is accepted during its step and
// the next (one step either way for clocks that differ between replicas),
// so it lives between one and two proof windows.
//
// The proof is checked with go-jose, which the server already uses, rather
// than with a Go DPoP library: those there are bring another JWT library
// each, accept fewer algorithms, and leave the replay store shared by
// replicas and the nonces to the caller, which is most of what this package
// does; what remains is the header and claims checks below, each with its
// own refusal.
package dpop

import (
	"context"
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"authserver/internal/periodic"
)

// Header is the request header that carries a proof; NonceHeader the
// response header that carries a fresh nonce.
const (
	Header      = "DPoP"
	NonceHeader = "DPoP-Nonce"
)

// The error codes of RFC 9449 a refusal carries.
const (
	CodeInvalidProof = "invalid_dpop_proof"
	CodeUseNonce     = "use_dpop_nonce"
)

// Skew is the clock difference allowed between a client and this server,
// on top of the proof window, either way.
const Skew = 10 * time.Second

// MaxProofSize bounds the proof a request may carry: a proof with an RSA
// key of 4096 bits is under 2 KiB.
const MaxProofSize = 8 << 10

// maxIAT is far beyond any iat within the window (the year 5138), and
// keeps the conversion to a time exact.
const maxIAT = 1e11

// minRSABits is the smallest RSA key accepted.
const minRSABits = 2048

// algorithms are the proof algorithms accepted: every asymmetric signature
// algorithm go-jose verifies (ML-DSA needs a newer Go than the server's).
var algorithms = []jose.SignatureAlgorithm{
	jose.ES256, jose.ES384, jose.ES512, jose.RS256, jose.RS384, jose.RS512,
	jose.PS256, jose.PS384, jose.PS512, jose.EdDSA,
}

// Algorithms lists the accepted proof algorithms, as discovery publishes
// them (dpop_signing_alg_values_supported).
func Algorithms() []string {
	out := make([]string, len(algorithms))
	for i, a := range algorithms {
		out[i] = string(a)
	}
	return out
}

// Store is what the checks keep in the database (storage.SQLStore).
type Store interface {
	UseDPoPProof(ctx context.Context, hash []byte, expiresAt, now time.Time) (bool, error)
	DeleteExpiredDPoPProofs(ctx context.Context, now time.Time) (int64, error)
	DPoPNonceSecret(ctx context.Context, candidate []byte) ([]byte, error)
}

// Options configure a Checker. Store and a positive Window are required.
type Options struct {
	Store Store
	// Window is how old a proof may be (iat), and how long its jti is kept.
	Window time.Duration
	// Nonce requires every proof to carry a nonce this server issued.
	Nonce bool
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Checker checks proofs. It is safe for concurrent use.
type Checker struct {
	o Options

	mu     sync.Mutex
	secret []byte // the nonce secret, once read
}

// New returns a Checker for o.
func New(o Options) (*Checker, error) {
	if o.Store == nil || o.Window <= 0 {
		return nil, errors.New("dpop: a store and a positive window are required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Checker{o: o}, nil
}

// Nonces reports whether proofs must carry a nonce.
func (c *Checker) Nonces() bool { return c.o.Nonce }

// Error is a refused proof. Code is invalid_dpop_proof or use_dpop_nonce;
// Description is in fixed words that never quote the proof or the request.
type Error struct {
	Code        string
	Description string
}

func (e *Error) Error() string { return "dpop: " + e.Code + ": " + e.Description }

func invalid(description string) *Error {
	return &Error{Code: CodeInvalidProof, Description: description}
}

// The refusals whose descriptions tests and callers compare.
var (
	errNoNonce    = &Error{Code: CodeUseNonce, Description: "The DPoP proof must carry the nonce given in the DPoP-Nonce header."}
	errStaleNonce = &Error{Code: CodeUseNonce, Description: "The DPoP proof's nonce is not a current nonce of this server; use the one in the DPoP-Nonce header."}
)

// Request is what a proof must match.
type Request struct {
	// Method is the HTTP method of the request.
	Method string
	// URL is the absolute URL of the request as this server publishes it
	// (issuer + path); its query, if any, is ignored.
	URL string
	// AccessToken, for a request to a protected resource, is the token the
	// request presents: the proof's ath must be its hash. Empty at the
	// token endpoint, where ath is not checked.
	AccessToken string
	// JKT, when not empty, is the thumbprint of the key the access token is
	// bound to: the proof must be signed with that key.
	JKT string
}

// Check checks the proof in headers (every value of the request's DPoP
// header) against req and returns the RFC 7638 SHA-256 thumbprint of its
// key, base64url. It returns an *Error for a refused proof and any other
// error when the database could not say whether the proof was seen before
// (or read the nonce secret): that is never a refusal.
func (c *Checker) Check(ctx context.Context, headers []string, req Request) (string, error) {
	if len(headers) != 1 {
		return "", invalid("Send exactly one DPoP header.")
	}
	raw := headers[0]
	if raw == "" || len(raw) > MaxProofSize || strings.Count(raw, ".") != 2 {
		return "", invalid("The DPoP proof is not a compact JWS of at most 8 KiB.")
	}
	if e := checkHeader(raw[:strings.IndexByte(raw, '.')]); e != nil {
		return "", e
	}
	jws, err := jose.ParseSignedCompact(raw, algorithms)
	if err != nil || len(jws.Signatures) != 1 || jws.Signatures[0].Header.JSONWebKey == nil {
		return "", invalid("The DPoP proof is not a compact JWS with a public jwk header.")
	}
	jwk := jws.Signatures[0].Header.JSONWebKey
	if rk, ok := jwk.Key.(*rsa.PublicKey); ok && rk.N.BitLen() < minRSABits {
		return "", invalid("The DPoP proof's RSA key is shorter than 2048 bits.")
	}
	payload, err := jws.Verify(jwk)
	if err != nil {
		return "", invalid("The DPoP proof's signature does not verify with its jwk.")
	}
	jkt, err := Thumbprint(jwk)
	if err != nil {
		return "", invalid("The DPoP proof's jwk has no thumbprint.")
	}
	var cl claims
	if err := json.Unmarshal(payload, &cl); err != nil || cl.JTI == "" || cl.HTM == "" || cl.HTU == "" || cl.IAT == nil {
		return "", invalid("The DPoP proof's claims must be a JSON object with jti, htm, htu and iat.")
	}
	if len(cl.JTI) > 256 {
		return "", invalid("The DPoP proof's jti is longer than 256 characters.")
	}
	if cl.HTM != req.Method {
		return "", invalid("The DPoP proof's htm is not the method of the request.")
	}
	if want, ok := normalURL(req.URL); !ok || !sameURL(cl.HTU, want) {
		return "", invalid("The DPoP proof's htu is not the URL of the request.")
	}
	now := c.o.Now()
	iat := *cl.IAT
	if math.IsNaN(iat) || iat < 0 || iat > maxIAT {
		return "", invalid("The DPoP proof's iat is not a time.")
	}
	sec, frac := math.Modf(iat)
	issued := time.Unix(int64(sec), int64(frac*1e9))
	if issued.Before(now.Add(-c.o.Window-Skew)) || issued.After(now.Add(Skew)) {
		return "", invalid("The DPoP proof's iat is not within the accepted window of the server's time.")
	}
	if req.AccessToken != "" {
		if cl.ATH == "" {
			return "", invalid("The DPoP proof must carry ath, the hash of the access token.")
		}
		if !hmac.Equal([]byte(cl.ATH), []byte(ATH(req.AccessToken))) {
			return "", invalid("The DPoP proof's ath is not the hash of the access token.")
		}
	}
	if req.JKT != "" && !hmac.Equal([]byte(jkt), []byte(req.JKT)) {
		return "", invalid("The DPoP proof's key is not the key the access token is bound to.")
	}
	if c.o.Nonce {
		if cl.Nonce == "" {
			return "", errNoNonce
		}
		ok, err := c.validNonce(ctx, cl.Nonce, now)
		if err != nil {
			return "", err
		}
		if !ok {
			return "", errStaleNonce
		}
	}
	// Last, so that a proof refused for anything else does not use up its
	// jti. The row lives as long as the proof could be accepted.
	fresh, err := c.o.Store.UseDPoPProof(ctx, proofHash(jkt, cl.JTI), issued.Add(c.o.Window+Skew+time.Second), now)
	if err != nil {
		return "", fmt.Errorf("dpop: record the proof: %w", err)
	}
	if !fresh {
		return "", invalid("The DPoP proof has been used before.")
	}
	return jkt, nil
}

// claims are the proof's claims RFC 9449 §4.2 defines. iat is a number
// (RFC 7519 NumericDate, which may have a fraction).
type claims struct {
	JTI   string   `json:"jti"`
	HTM   string   `json:"htm"`
	HTU   string   `json:"htu"`
	IAT   *float64 `json:"iat"`
	ATH   string   `json:"ath"`
	Nonce string   `json:"nonce"`
	// Any other claim is allowed and ignored; a claim given twice is an
	// error (encoding/json/v2), so no two readers can disagree.
}

// privateMembers are the JWK members that only a private or symmetric key
// has (RFC 7518 §6).
var privateMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

// checkHeader checks the proof's header before go-jose reads it, so that
// each rule refuses with its own description.
func checkHeader(part string) *Error {
	b, err := base64.RawURLEncoding.DecodeString(part)
	if err != nil {
		return invalid("The DPoP proof's header is not base64url.")
	}
	var h struct {
		Typ string                    `json:"typ"`
		Alg string                    `json:"alg"`
		JWK map[string]jsontext.Value `json:"jwk"`
		// Other header parameters (kid, crit, …) are go-jose's to judge.
	}
	if err := json.Unmarshal(b, &h); err != nil {
		return invalid("The DPoP proof's header is not a JSON object.")
	}
	// A media type, compared without case; "application/" may be left
	// out (RFC 7515 §4.1.9).
	if !strings.EqualFold(h.Typ, "dpop+jwt") && !strings.EqualFold(h.Typ, "application/dpop+jwt") {
		return invalid("The DPoP proof's typ must be dpop+jwt.")
	}
	if !slices.Contains(Algorithms(), h.Alg) {
		return invalid("The DPoP proof's alg must be one of " + strings.Join(Algorithms(), ", ") + ".")
	}
	if h.JWK == nil {
		return invalid("The DPoP proof's header must carry the public key as jwk.")
	}
	for _, m := range privateMembers {
		if _, ok := h.JWK[m]; ok {
			return invalid("The DPoP proof's jwk must be a public key: it holds a private or symmetric key member.")
		}
	}
	return nil
}

// Thumbprint is the RFC 7638 SHA-256 thumbprint of jwk's public key,
// base64url: what a token bound to the key carries in cnf.jkt.
func Thumbprint(jwk *jose.JSONWebKey) (string, error) {
	pub := jwk.Public()
	tp, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(tp), nil
}

// ATH is the ath of a proof for token: the base64url SHA-256 of its
// ASCII bytes (RFC 9449 §4.2).
func ATH(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// proofHash is what the replay store keeps of a proof: its key and jti,
// hashed, so a jti is one key's and the store holds nothing the client
// sent.
func proofHash(jkt, jti string) []byte {
	h := sha256.New()
	h.Write([]byte("dpop-proof\x00"))
	h.Write([]byte(jkt))
	h.Write([]byte{0})
	h.Write([]byte(jti))
	return h.Sum(nil)
}

// normalURL returns an http(s) URL without query and fragment, with scheme
// and host in lower case, a default port left out and an empty path as
// "/" (RFC 3986 §6.2.2 and §6.2.3, as RFC 9449 §4.3 asks); ok is false
// when raw is not such a URL.
func normalURL(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" || u.User != nil || u.Host == "" {
		return "", false
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return "", false
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		port = ""
	}
	hostport := host
	if strings.Contains(host, ":") { // IPv6
		hostport = "[" + host + "]"
	}
	if port != "" {
		hostport = net.JoinHostPort(host, port)
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	return scheme + "://" + hostport + path, true
}

// sameURL reports whether htu, normalized, is want (already normalized).
func sameURL(htu, want string) bool {
	got, ok := normalURL(htu)
	return ok && got == want
}

// Nonce returns a nonce valid now on every replica, or "" when nonces are
// off. An error means the nonce secret could not be read.
func (c *Checker) Nonce(ctx context.Context) (string, error) {
	if !c.o.Nonce {
		return "", nil
	}
	secret, err := c.nonceSecret(ctx)
	if err != nil {
		return "", err
	}
	return encodeNonce(secret, c.step(c.o.Now())), nil
}

// step is the nonce time step of t.
func (c *Checker) step(t time.Time) uint64 {
	return uint64(t.Unix()) / uint64(max(c.o.Window/time.Second, 1))
}

// validNonce reports whether n is a nonce of this step, the one before or
// the one after.
func (c *Checker) validNonce(ctx context.Context, n string, now time.Time) (bool, error) {
	b, err := base64.RawURLEncoding.DecodeString(n)
	if err != nil || len(b) != 8+nonceMACSize {
		return false, nil
	}
	secret, err := c.nonceSecret(ctx)
	if err != nil {
		return false, err
	}
	step := binary.BigEndian.Uint64(b[:8])
	cur := c.step(now)
	if step+1 < cur || step > cur+1 {
		return false, nil
	}
	return hmac.Equal([]byte(encodeNonce(secret, step)), []byte(n)), nil
}

// nonceMACSize is how much of the HMAC-SHA256 a nonce keeps.
const nonceMACSize = 16

func encodeNonce(secret []byte, step uint64) string {
	b := binary.BigEndian.AppendUint64(make([]byte, 0, 8+nonceMACSize), step)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("dpop-nonce\x00"))
	m.Write(b)
	return base64.RawURLEncoding.EncodeToString(m.Sum(b)[:8+nonceMACSize])
}

// nonceSecret reads the shared secret once, storing a new one when the
// database has none.
func (c *Checker) nonceSecret(ctx context.Context) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.secret != nil {
		return c.secret, nil
	}
	candidate := make([]byte, 32)
	rand.Read(candidate)
	s, err := c.o.Store.DPoPNonceSecret(ctx, candidate)
	if err != nil {
		return nil, fmt.Errorf("dpop: read the nonce secret: %w", err)
	}
	if len(s) < 32 {
		return nil, errors.New("dpop: the stored nonce secret is shorter than 32 bytes")
	}
	c.secret = s
	return s, nil
}

// Run removes the proofs that can no longer be replayed, every proof
// window, until ctx is done. Every replica runs it; the deletes are
// idempotent.
func (c *Checker) Run(ctx context.Context, failed func(error)) {
	periodic.Every(ctx, c.o.Window, func(ctx context.Context) {
		if _, err := c.o.Store.DeleteExpiredDPoPProofs(ctx, c.o.Now()); err != nil && ctx.Err() == nil && failed != nil {
			failed(err)
		}
	})
}
