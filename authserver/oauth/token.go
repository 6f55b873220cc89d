package oauth

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ory/fosite"

	"authserver/authserver/dpop"
	"authserver/exchange"
	"authserver/governance"
	"authserver/internal/httpx"
	"authserver/internal/rfc8693"
	"authserver/storage"
)

// maxFormBody bounds every form-encoded OAuth request body.
const maxFormBody = 64 << 10

// formContentType is the only body the OAuth endpoints accept.
const formContentType = "application/x-www-form-urlencoded"

// multiValued are the parameters that may be sent more than once: several
// targets are meaningful to RFC 8693 (and refused as invalid_target by the
// grant), not a malformed request.
var multiValued = []string{"audience", "resource"}

// The parameters each OAuth endpoint defines (RFC 6749, RFC 8693, RFC 7662,
// RFC 7009). An error description may name these and only these: any other
// name is whatever the client typed, a token pasted into the wrong place
// included, and an answer is kept by proxies, browsers and error trackers.
var (
	tokenParams = []string{"grant_type", "client_id", "client_secret", "subject_token", "subject_token_type",
		"actor_token", "actor_token_type", "requested_token_type", "audience", "resource", "scope"}
	introspectionParams = []string{"token", "token_type_hint", "client_id", "client_secret"}
	revocationParams    = []string{"token", "token_type_hint", "client_id", "client_secret"}
)

// tokenEndpoint serves POST /oauth2/token. It does what fosite does not
// before fosite sees the request: content type, body limit, strict form
// parsing, empty parameters treated as absent, repeated parameters refused,
// and unsupported_grant_type for an unknown grant.
type tokenEndpoint struct {
	p       *provider
	log     *slog.Logger
	metrics *oauthMetrics
	audit   Auditor
	// signals records a rotated secret's reuse; nil: not recorded.
	signals PATSignals
	now     func() time.Time
	limits  *oauthLimits // nil: no limits
	// dpop checks DPoP proofs; nil: DPoP is not supported.
	dpop *dpop.Checker
	// url is the endpoint's URL as the issuer names it: a proof's htu.
	url string
}

func (t *tokenEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	subject := subjectPAT
	result := serveOAuth(w, r, t.limits, tokenParams, func(w http.ResponseWriter, r *http.Request, form url.Values, charge *string) string {
		subject = exchangeSubject(form.Get("subject_token"))
		return t.serve(w, r, form, charge, subject)
	})
	t.metrics.exchanged(subject, result)
	t.metrics.exchangeDuration.Observe(time.Since(start).Seconds())
}

// serve answers a well-formed request and returns the result label for
// metrics.
func (t *tokenEndpoint) serve(w http.ResponseWriter, r *http.Request, form url.Values, charge *string, subject string) (result string) {
	var ferr *fosite.RFC6749Error
	switch gt := form.Get("grant_type"); {
	case gt == "":
		ferr = errWith(fosite.ErrInvalidRequest, "The grant_type parameter is required.")
	case gt != rfc8693.GrantType:
		ferr = errWith(fosite.ErrUnsupportedGrantType, "Only the token-exchange grant ("+rfc8693.GrantType+") is supported.")
	}
	if ferr != nil {
		writeOAuthError(w, ferr.CodeField, ferr)
		return ferr.ErrorField
	}
	// fosite reads r.PostForm; with it set, it does not read the body again.
	r.PostForm, r.Form = form, form

	ctx := r.Context()
	sess := &TokenExchangeSession{}
	if ferr := t.proof(w, r, sess); ferr != nil {
		writeOAuthError(w, ferr.CodeField, ferr)
		return ferr.ErrorField
	}
	ar, err := t.p.f.NewAccessRequest(ctx, r, sess)
	if err == nil {
		var resp fosite.AccessResponder
		if resp, err = t.p.f.NewAccessResponse(ctx, ar); err == nil {
			writeTokenResponse(w, resp.GetAccessToken(), sess)
			return "granted"
		}
	}
	rfc := fosite.ErrorToRFC6749Error(err)
	var ref *exchange.Refusal
	if errors.As(err, &ref) {
		*charge = ref.ClientID // set once the client has authenticated
	}
	t.record(r, rfc, err, subject)
	if rfc.CodeField == http.StatusUnauthorized {
		// RFC 6749 §5.2: a 401 names the scheme the client may use.
		w.Header().Set("WWW-Authenticate", `Basic realm="authserver", charset="UTF-8"`)
	}
	httpx.RetryLaterIfUnavailable(w.Header(), rfc.CodeField)
	t.p.f.WriteAccessError(ctx, w, ar, rfc)
	return rfc.ErrorField
}

// proof checks the request's DPoP proof, when it carries one, and keeps
// the thumbprint of the proof's key in sess: the grant binds the token to
// it. With nonces on, every answer carries a current nonce.
func (t *tokenEndpoint) proof(w http.ResponseWriter, r *http.Request, sess *TokenExchangeSession) *fosite.RFC6749Error {
	if t.dpop == nil {
		return nil
	}
	ctx := r.Context()
	if t.dpop.Nonces() {
		n, err := t.dpop.Nonce(ctx)
		if err != nil {
			t.log.ErrorContext(ctx, "DPoP nonce unavailable", "err", err)
			return errUnavailable(err)
		}
		w.Header().Set(dpop.NonceHeader, n)
	}
	headers := r.Header.Values(dpop.Header)
	if len(headers) == 0 {
		return nil
	}
	jkt, err := t.dpop.Check(ctx, headers, dpop.Request{Method: r.Method, URL: t.url})
	var refused *dpop.Error
	switch {
	case errors.As(err, &refused):
		t.log.InfoContext(ctx, "DPoP proof refused", "error", refused.Code, "reason", refused.Description,
			"client_addr", httpx.ClientAddrOf(r))
		return &fosite.RFC6749Error{ErrorField: refused.Code, DescriptionField: refused.Description, CodeField: http.StatusBadRequest}
	case err != nil:
		t.log.ErrorContext(ctx, "DPoP proof could not be checked", "err", err)
		return errUnavailable(err)
	}
	sess.JKT = jkt
	return nil
}

// serveOAuth runs an OAuth endpoint's serve under the failure budget
// (ratelimit.go): it reads the form (params are the endpoint's own
// parameters, which its errors may name), refuses a caller out of budget before
// any database work, answers a malformed form itself, and charges every
// failure answered — to the client serve names in charge once it has
// authenticated, else to the address alone.
func serveOAuth(w http.ResponseWriter, r *http.Request, limits *oauthLimits, params []string,
	serve func(w http.ResponseWriter, r *http.Request, form url.Values, charge *string) string) (result string) {
	form, status, ferr := readForm(w, r, params)
	if wait := limits.admit(r, form); wait > 0 {
		return writeRateLimited(w, wait)
	}
	var client string
	defer func() { limits.settle(r, result, client) }()
	if ferr != nil {
		writeOAuthError(w, status, ferr)
		if status == http.StatusRequestEntityTooLarge {
			return "request_too_large"
		}
		return ferr.ErrorField
	}
	return serve(w, r, form, &client)
}

// tokenResponse is the RFC 8693 §2.2.1 answer. It is written from a typed
// struct rather than through fosite's WriteAccessResponse, which marshals a
// map (reflection over interface values and sorted keys on every grant: a
// measurable share of the hot path, BENCHMARKS.md). The members and their
// values are the same as fosite would write.
type tokenResponse struct {
	AccessToken          string                         `json:"access_token"`
	IssuedTokenType      string                         `json:"issued_token_type"`
	TokenType            string                         `json:"token_type"`
	ExpiresIn            int64                          `json:"expires_in"`
	Scope                string                         `json:"scope"`
	AuthorizationDetails []exchange.AuthorizationDetail `json:"authorization_details,omitempty"`
}

// The header values of every token answer, shared: net/http only reads
// them, and Set or Add replace a slice rather than write into it.
var (
	noStore  = []string{"no-store"}
	noCache  = []string{"no-cache"}
	jsonUTF8 = []string{"application/json;charset=UTF-8"}
)

// writeTokenResponse answers a granted exchange (headers as RFC 6749 §5.1).
func writeTokenResponse(w http.ResponseWriter, token string, sess *TokenExchangeSession) {
	body, err := json.Marshal(tokenResponse{
		AccessToken:          token,
		IssuedTokenType:      sess.IssuedTokenType,
		TokenType:            sess.TokenType(),
		ExpiresIn:            int64(sess.ExpiresIn / time.Second),
		Scope:                strings.Join(sess.Scope, " "),
		AuthorizationDetails: sess.AuthorizationDetails,
	})
	if err != nil { // not reachable: every member marshals
		writeOAuthError(w, http.StatusInternalServerError, fosite.ErrServerError)
		return
	}
	h := w.Header()
	h["Cache-Control"], h["Pragma"], h["Content-Type"] = noStore, noCache, jsonUTF8
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// record logs, counts and audits a refused exchange with its precise cause,
// which the client never sees. A chained exchange's refusal also records
// the hop it asked for (its audit detail).
func (t *tokenEndpoint) record(r *http.Request, rfc *fosite.RFC6749Error, err error, subject string) {
	var ref *exchange.Refusal
	if !errors.As(err, &ref) {
		switch {
		case rfc.ErrorField == fosite.ErrInvalidClient.ErrorField:
			ref = &exchange.Refusal{Cause: exchange.CauseClient}
		case rfc.CodeField >= 500:
			t.log.ErrorContext(r.Context(), "token exchange failed", "error", rfc.ErrorField, "err", errors.Unwrap(rfc))
			return
		default:
			// A malformed request (missing parameter, bad type): nothing
			// about a PAT or a user to record beyond the metric.
			return
		}
	}
	t.metrics.refusals.WithLabelValues(subject, string(ref.Cause)).Inc()
	detail := ""
	if ref.Chained {
		detail = chainDetail(ref.Depth)
	}
	t.log.InfoContext(r.Context(), "token exchange refused", "cause", string(ref.Cause), "error", rfc.ErrorField,
		"client_id", ref.ClientID, "org_id", ref.OrgID, "user_id", ref.UserID, "pat_id", ref.PATID, "subject", subject, "depth", ref.Depth)
	t.audit.Add(governance.ClientActor(ref.ClientID, httpx.ClientAddrOf(r)).Attribute(storage.AuditEvent{
		Time: t.now(), OrgID: ref.OrgID, Action: "exchange.refused", Target: ref.PATID, Outcome: string(ref.Cause), Detail: detail,
	}))
	if ref.Cause == exchange.CauseReused && !ref.Chained && t.signals != nil {
		// The secret of a rotated PAT was presented: its own record,
		// at most one a minute per PAT (patSignals).
		t.signals.Reused(ref.OrgID, ref.PATID, ref.ClientID, httpx.ClientAddrOf(r))
	}
}

// chainDetail is the audit detail of a refused chained exchange: the hop
// it asked for (1 for the first exchange of a PAT's token), when the
// subject was verified far enough to know it. The client is the event's
// actor.
func chainDetail(depth int) string {
	if depth == 0 {
		return "chained exchange, depth unknown (subject not verified)"
	}
	return "chained exchange, depth " + strconv.Itoa(depth)
}

// readForm reads and checks a form-encoded OAuth request body. It returns
// the parameters with empty values removed (RFC 6749 §3.2: a parameter sent
// without a value is treated as omitted), or the status and error to answer.
// Errors name a parameter only if it is one of params.
func readForm(w http.ResponseWriter, r *http.Request, params []string) (url.Values, int, *fosite.RFC6749Error) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return nil, http.StatusMethodNotAllowed, errWith(fosite.ErrInvalidRequest, "Use POST.")
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != formContentType {
		return nil, http.StatusBadRequest, errWith(fosite.ErrInvalidRequest, "The body must be "+formContentType+".")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxFormBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, http.StatusRequestEntityTooLarge, errWith(fosite.ErrInvalidRequest, "The request body is larger than 64 KiB.")
		}
		return nil, http.StatusBadRequest, errWith(fosite.ErrInvalidRequest, "The request body could not be read.")
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, http.StatusBadRequest, errWith(fosite.ErrInvalidRequest, "The body is not valid form encoding.")
	}
	// Checked and trimmed in place: no second map, no copied slices.
	for k, vs := range form {
		if !utf8.ValidString(k) || strings.ContainsRune(k, 0) {
			return nil, http.StatusBadRequest, errWith(fosite.ErrInvalidRequest, "A parameter name is not valid UTF-8 text.")
		}
		kept := vs[:0]
		for _, v := range vs {
			if !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
				return nil, http.StatusBadRequest, errWith(fosite.ErrInvalidRequest, "A parameter value is not valid UTF-8 text.")
			}
			if v != "" {
				kept = append(kept, v)
			}
		}
		switch {
		case len(kept) == 0:
			delete(form, k)
			continue
		case len(kept) > 1 && !slices.Contains(multiValued, k):
			if !slices.Contains(params, k) {
				return nil, http.StatusBadRequest, errWith(fosite.ErrInvalidRequest, "A parameter this endpoint does not define is repeated.")
			}
			return nil, http.StatusBadRequest, errWith(fosite.ErrInvalidRequest, "A parameter is repeated: "+k+".")
		}
		form[k] = kept
	}
	return form, 0, nil
}

// writeOAuthError writes an RFC 6749 §5.2 JSON error with a given status.
func writeOAuthError(w http.ResponseWriter, status int, e *fosite.RFC6749Error) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	httpx.RetryLaterIfUnavailable(w.Header(), status)
	w.WriteHeader(status)
	httpx.WriteJSONBody(w, map[string]string{"error": e.ErrorField, "error_description": e.GetDescription()})
}
