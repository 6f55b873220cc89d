package accesstoken

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-json-experiment/json"

	"authserver/exchange"
	"authserver/signing"
)

// MaxSize is the longest token Verify decodes. Tokens this server signs are
// far shorter; the bound keeps a caller from making every replica decode
// and hash megabytes per request.
const MaxSize = 8 << 10

// DefaultLeeway is the clock skew to allow between the replica that signed
// a token and the one verifying it.
const DefaultLeeway = 30 * time.Second

// algorithms are the only header algorithms accepted: the asymmetric ones
// the signing package signs with. Checked here, before the keys are asked,
// so that no implementation of Keys can let none or an HMAC through.
var algorithms = []string{signing.ES256, signing.RS256, signing.EdDSA}

// Keys checks a compact JWS against the keys this server publishes and
// returns its payload. signing.Keyring implements it: it also checks that
// the header's alg is its key's and that the kid is published and not
// retired.
type Keys interface {
	Verify(token string) ([]byte, error)
}

// Config are a Verifier's options. Issuer and Keys are required.
type Config struct {
	// Issuer is this server's issuer URL: the only iss accepted.
	Issuer string
	// Keys verify the signature.
	Keys Keys
	// KnownAudience reports whether id is an audience this server issues
	// tokens for. Only VerifyKnownAudience uses it; an error (the
	// audiences could not be read) is returned as is, never as a refusal.
	KnownAudience func(ctx context.Context, id string) (bool, error)
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Leeway is the clock skew allowed on nbf and iat, never on exp: a
	// token is never used after its expiry. Zero allows none.
	Leeway time.Duration
}

// Verifier verifies this server's access tokens. It is safe for
// concurrent use.
type Verifier struct {
	c Config
}

// New returns a Verifier for c.
func New(c Config) (*Verifier, error) {
	switch {
	case c.Issuer == "":
		return nil, errors.New("accesstoken: an issuer is required")
	case c.Keys == nil:
		return nil, errors.New("accesstoken: keys are required")
	case c.Leeway < 0:
		return nil, fmt.Errorf("accesstoken: leeway %v is negative", c.Leeway)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return &Verifier{c: c}, nil
}

// Claims are the claims of a verified access token (exchange.Claims as
// read back, with aud as RFC 7519 allows it).
type Claims struct {
	Issuer               string                         `json:"iss"`
	Subject              string                         `json:"sub"`
	Audience             Audience                       `json:"aud"`
	Expiry               int64                          `json:"exp"`
	IssuedAt             int64                          `json:"iat"`
	NotBefore            int64                          `json:"nbf"`
	ID                   string                         `json:"jti"`
	ClientID             string                         `json:"client_id"`
	Scope                string                         `json:"scope"`
	OrgID                string                         `json:"org_id"`
	PATID                string                         `json:"pat_id"`
	Act                  *exchange.Actor                `json:"act,omitempty"`
	MayAct               *exchange.Actor                `json:"may_act,omitempty"`
	AuthorizationDetails []exchange.AuthorizationDetail `json:"authorization_details,omitempty"`
	// Cnf is the key a DPoP-bound token is bound to; nil for a bearer
	// token.
	Cnf *exchange.Confirmation `json:"cnf,omitempty"`
}

// Audience is the aud claim: one string or an array of strings (RFC 7519
// §4.1.3). It is written back as a string when it holds one audience.
type Audience []string

// UnmarshalJSON reads a string or an array of strings.
func (a *Audience) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		*a = nil
		return nil
	}
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = Audience{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New("aud is neither a string nor an array of strings")
	}
	*a = many
	return nil
}

// MarshalJSON writes one audience as a string, several as an array.
func (a Audience) MarshalJSON() ([]byte, error) {
	if len(a) == 1 {
		return json.Marshal(a[0])
	}
	return json.Marshal([]string(a))
}

// Contains reports whether id is one of the audiences.
func (a Audience) Contains(id string) bool { return id != "" && slices.Contains(a, id) }

// ErrInvalid is matched (errors.Is) by every refusal of a token: the token
// is not one this server accepts now. An error that does not match it
// means the verdict could not be reached (KnownAudience failed).
var ErrInvalid = errors.New("access token refused")

// Reason names the rule that refused a token, for logs and metrics. It is
// never told to the caller, to whom every refusal looks the same.
type Reason string

// The reasons for a refusal.
const (
	ReasonMalformed    Reason = "malformed"     // too long, not three parts, or a header that does not decode
	ReasonForeign      Reason = "foreign"       // alg or typ refused, or not signed by a published key of ours
	ReasonClaims       Reason = "claims"        // claims unreadable, or sub, org_id, pat_id or exp missing
	ReasonIssuer       Reason = "issuer"        // iss is not this server
	ReasonAudience     Reason = "audience"      // aud does not name the audience asked for
	ReasonExpired      Reason = "jwt-expired"   // exp has passed
	ReasonNotYetValid  Reason = "not-yet-valid" // nbf is in the future beyond the leeway
	ReasonIssuedLater  Reason = "issued-later"  // iat is in the future beyond the leeway
	reasonUnclassified Reason = ""
)

// Error is a refusal. Its message is in fixed words: it never quotes the
// token or a value read from it.
type Error struct {
	Reason Reason
	msg    string
}

func (e *Error) Error() string { return "access token refused: " + e.msg }

// Is makes every *Error match ErrInvalid.
func (e *Error) Is(target error) bool { return target == ErrInvalid }

// ReasonOf returns the reason of a refusal, or "" when err is not one.
func ReasonOf(err error) Reason {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return reasonUnclassified
}

func refuse(r Reason, msg string) error { return &Error{Reason: r, msg: msg} }

// Verify checks raw under every rule of the package and that its aud names
// audience. It reads no database.
func (v *Verifier) Verify(ctx context.Context, raw, audience string) (*Claims, error) {
	c, err := v.verify(raw)
	if err != nil {
		return nil, err
	}
	if !c.Audience.Contains(audience) {
		return nil, refuse(ReasonAudience, "aud does not name the audience")
	}
	return c, nil
}

// VerifyAnyOf checks raw under every rule of the package and that its aud
// names at least one of audiences. It is for the token endpoint's chained
// exchange, where a client presents a token for any audience it acts for
// (its on_behalf_of). It reads no database.
func (v *Verifier) VerifyAnyOf(ctx context.Context, raw string, audiences []string) (*Claims, error) {
	c, err := v.verify(raw)
	if err != nil {
		return nil, err
	}
	for _, id := range audiences {
		if c.Audience.Contains(id) {
			return c, nil
		}
	}
	return nil, refuse(ReasonAudience, "aud names no audience asked for")
}

// VerifyKnownAudience checks raw under every rule of the package and that
// its aud names at least one audience this server knows
// (Config.KnownAudience). It is for introspection, which answers for every
// resource server: a token for an audience the server does not know — one
// removed since — is refused.
func (v *Verifier) VerifyKnownAudience(ctx context.Context, raw string) (*Claims, error) {
	if v.c.KnownAudience == nil {
		return nil, errors.New("accesstoken: VerifyKnownAudience needs Config.KnownAudience")
	}
	c, err := v.verify(raw)
	if err != nil {
		return nil, err
	}
	for _, id := range c.Audience {
		if id == "" {
			continue
		}
		ok, err := v.c.KnownAudience(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("accesstoken: read the audiences: %w", err)
		}
		if ok {
			return c, nil
		}
	}
	return nil, refuse(ReasonAudience, "aud names no audience of this server")
}

// verify applies every rule but the audience's.
func (v *Verifier) verify(raw string) (*Claims, error) {
	if raw == "" || len(raw) > MaxSize || strings.Count(raw, ".") != 2 {
		return nil, refuse(ReasonMalformed, "not a compact JWS of at most 8 KiB")
	}
	if r, msg := checkHeader(raw[:strings.IndexByte(raw, '.')]); r != reasonUnclassified {
		return nil, refuse(r, msg)
	}
	payload, err := v.c.Keys.Verify(raw)
	if err != nil {
		// The keys' error names the rule in fixed words, but says nothing
		// the caller may learn: keep it out of the refusal.
		return nil, refuse(ReasonForeign, "not signed by a published key")
	}
	// encoding/json/v2 semantics: names match exactly and a name given
	// twice is an error, so no two readers of the same bytes can disagree.
	var c Claims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, refuse(ReasonClaims, "claims unreadable")
	}
	if c.Subject == "" || c.OrgID == "" || c.PATID == "" || c.Expiry == 0 {
		return nil, refuse(ReasonClaims, "sub, org_id, pat_id or exp missing")
	}
	if c.Issuer != v.c.Issuer {
		return nil, refuse(ReasonIssuer, "iss is not this server")
	}
	now := v.c.Now()
	// Comparisons in whole seconds are exact: the claims are integers, and
	// for an integer n, now < n exactly when floor(now) < n.
	late := now.Add(v.c.Leeway)
	switch {
	case !now.Before(time.Unix(c.Expiry, 0)):
		return nil, refuse(ReasonExpired, "exp has passed")
	case c.NotBefore != 0 && late.Before(time.Unix(c.NotBefore, 0)):
		return nil, refuse(ReasonNotYetValid, "nbf is in the future")
	case c.IssuedAt != 0 && late.Before(time.Unix(c.IssuedAt, 0)):
		return nil, refuse(ReasonIssuedLater, "iat is in the future")
	}
	return &c, nil
}

// checkHeader refuses a header whose alg is not one of algorithms or whose
// typ is not at+jwt, before any key is looked up.
func checkHeader(part string) (Reason, string) {
	b, err := base64.RawURLEncoding.DecodeString(part)
	if err != nil {
		return ReasonMalformed, "header is not base64url"
	}
	var h struct {
		Alg string `json:"alg"`
		Typ string `json:"typ"`
	}
	if err := json.Unmarshal(b, &h); err != nil {
		return ReasonMalformed, "header is not a JSON object"
	}
	if !slices.Contains(algorithms, h.Alg) {
		return ReasonForeign, "alg is not ES256, RS256 or EdDSA"
	}
	if !strings.EqualFold(h.Typ, "at+jwt") && !strings.EqualFold(h.Typ, "application/at+jwt") {
		return ReasonForeign, "typ is not at+jwt"
	}
	return reasonUnclassified, ""
}
