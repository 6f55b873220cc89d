package console

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"authserver/exchange"
	"authserver/governance"
	"authserver/storage"
)

// My tokens: the signed-in user's own PATs.

// tokensPage is the data of the list of my tokens.
type tokensPage struct {
	Items []governance.PATView
	// Next is the cursor of the next page ("" on the last); Paged is set
	// when this is not the first page.
	Next  string
	Paged bool
	// Enabled is the organization's pats_enabled.
	Enabled bool
}

func (c *console) tokens(w http.ResponseWriter, r *http.Request, v *visit) error {
	return c.renderTokens(w, r, v, http.StatusOK, "", "")
}

// renderTokens renders my tokens, with a notice or an error from the
// action that led here.
func (c *console) renderTokens(w http.ResponseWriter, r *http.Request, v *visit, status int, notice, errMsg string) error {
	cursor := r.URL.Query().Get("cursor")
	list, err := c.gov.ListMyPATs(r.Context(), v.actor, governance.PATFilter{Cursor: cursor})
	if err != nil {
		return err
	}
	p := v.page("tokens", tokensPage{Items: list.Items, Next: list.Next, Paged: cursor != "",
		Enabled: v.me.Organization.PATsEnabled})
	p.Notice, p.Error = notice, errMsg
	c.render(w, r, status, "tokens", p)
	return nil
}

// Expiry choices of the generate form.
const (
	expiryDate  = "date"  // on a chosen date
	expiryMax   = "max"   // the organization's maximum (the default)
	expiryNever = "never" // no expiry, where the organization allows it
)

// dateLayout is the value format of <input type=date>.
const dateLayout = "2006-01-02"

// newTokenPage is the data of the generate form.
type newTokenPage struct {
	Enabled   bool
	Audiences []storage.Audience
	// The form's values.
	Name      string
	Scopes    []string
	Expiry    string
	ExpiresOn string
	// The expiry bounds: dates are UTC; a token expires at 00:00 UTC of
	// its date. DateAllowed is false when the organization's maximum is
	// shorter than a day (then only its maximum can be chosen).
	MinDate, MaxDate string
	DateAllowed      bool
	MaxLifetime      time.Duration
	// Field names the field an error is about.
	Field string
}

// newTokenForm fills the generate form's choices for v's organization, and
// its defaults: a date 30 days ahead, within the maximum.
func (c *console) newTokenForm(r *http.Request, v *visit) (*newTokenPage, error) {
	auds, err := c.catalog.List(r.Context())
	if err != nil {
		return nil, err
	}
	now := c.now().UTC()
	today := dayStart(now)
	maxLife := v.me.Organization.PATMaxLifetime
	f := &newTokenPage{Enabled: v.me.Organization.PATsEnabled, Audiences: auds, MaxLifetime: maxLife,
		MinDate: today.AddDate(0, 0, 1).Format(dateLayout), DateAllowed: true}
	def := today.AddDate(0, 0, 30)
	if maxLife > 0 {
		last := dayStart(now.Add(maxLife))
		f.MaxDate = last.Format(dateLayout)
		f.DateAllowed = last.After(today)
		if def.After(last) {
			def = last
		}
	}
	f.Expiry, f.ExpiresOn = expiryDate, def.Format(dateLayout)
	if !f.DateAllowed {
		f.Expiry, f.ExpiresOn = expiryMax, ""
	}
	return f, nil
}

func (c *console) newToken(w http.ResponseWriter, r *http.Request, v *visit) error {
	f, err := c.newTokenForm(r, v)
	if err != nil {
		return err
	}
	c.render(w, r, http.StatusOK, "token_new", v.page("tokens", f))
	return nil
}

// revealPage is the data of the one-time reveal.
type revealPage struct {
	*governance.NewToken
	Regenerated bool
}

// createToken generates a PAT and answers with the reveal page itself:
// the token is in this response only — never in a URL, a redirect or a
// log line.
func (c *console) createToken(w http.ResponseWriter, r *http.Request, v *visit) error {
	f, err := c.newTokenForm(r, v)
	if err != nil {
		return err
	}
	form := r.PostForm
	f.Name, f.Scopes, f.Expiry, f.ExpiresOn = form.Get("name"), form["scopes"], form.Get("expiry"), form.Get("expires_on")
	req := governance.PATRequest{Name: f.Name, Scopes: f.Scopes}
	again := func(status int, field, msg string) error {
		f.Field = field
		f.Name, f.ExpiresOn = c.refill(f.Name), c.refill(f.ExpiresOn)
		p := v.page("tokens", f)
		p.Error = msg
		c.render(w, r, status, "token_new", p)
		return nil
	}
	switch f.Expiry {
	case expiryDate:
		d, err := time.Parse(dateLayout, f.ExpiresOn)
		if err != nil {
			return again(http.StatusBadRequest, "expires_at", "Expiry date: choose a date.")
		}
		req.ExpiresAt = &d
	case expiryNever:
		req.NoExpiry = true
	case expiryMax, "":
	default:
		return again(http.StatusBadRequest, "expires_at", "Expiry: choose one of the options.")
	}
	nt, err := c.gov.CreatePAT(r.Context(), v.actor, v.actor.OrgID, v.actor.UserID, req)
	if err != nil {
		if governance.KindOf(err) == 0 {
			return err
		}
		return again(statusOf(err), fieldOf(err), messageOf(err))
	}
	c.reveal(w, r, v, &revealPage{NewToken: nt})
	return nil
}

// reveal rotates the session, so that the form that produced the token
// cannot be submitted again, and renders the token once.
func (c *console) reveal(w http.ResponseWriter, r *http.Request, v *visit, rp *revealPage) {
	if s, err := c.sessions.Rotate(r.Context(), w, v.sess); err != nil {
		// The token exists: show it anyway. A resubmission then meets
		// governance's own guards (the name is taken; the old PAT is
		// revoked) instead of the stale-form refusal.
		c.log.WarnContext(r.Context(), "console session not rotated after a token was revealed", "err", err)
	} else {
		v.sess = s
	}
	c.render(w, r, http.StatusOK, "token_reveal", v.page("tokens", rp))
}

// fieldOf is the field a governance refusal is about.
func fieldOf(err error) string {
	var ge *governance.Error
	if errors.As(err, &ge) {
		return ge.Field
	}
	return ""
}

// tokenPage is the data of one token's page: its details and the dry run.
type tokenPage struct {
	PAT       *governance.PATView
	Audiences []storage.Audience
	// Audience and Scope are the dry run's query.
	Audience, Scope string
	Explanation     *governance.Explanation
	// Reason says why the token cannot be exchanged now.
	Reason string
	// ExplainError is a refusal of the query itself.
	ExplainError string
}

// causeText says in words why a PAT cannot be exchanged now. Its owner may
// know what the token endpoint keeps to itself.
var causeText = map[exchange.Cause]string{
	exchange.CauseRevoked:         "the token is revoked",
	exchange.CauseExpired:         "the token has expired",
	exchange.CauseMaxLifetime:     "the token is older than your organization's maximum lifetime",
	exchange.CauseOrgDisabled:     "personal access tokens are disabled in your organization",
	exchange.CauseUserDeactivated: "your account is deactivated",
	exchange.CauseNonLocal:        "only local users' tokens can be exchanged",
}

// token shows one of my tokens and, given an audience, what an exchange
// for it would grant now (governance.Explain).
func (c *console) token(w http.ResponseWriter, r *http.Request, v *visit) error {
	ctx := r.Context()
	pat, err := c.gov.GetMyPAT(ctx, v.actor, r.PathValue("id"))
	if err != nil {
		return err
	}
	auds, err := c.catalog.List(ctx)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	tp := &tokenPage{PAT: pat, Audiences: auds, Audience: q.Get("audience"), Scope: q.Get("scope")}
	status := http.StatusOK
	if tp.Audience != "" {
		ex, err := c.gov.Explain(ctx, v.actor, pat.ID, tp.Audience, strings.Fields(tp.Scope)...)
		switch {
		case governance.KindOf(err) == governance.Invalid:
			tp.ExplainError, status = messageOf(err), http.StatusBadRequest
		case err != nil:
			return err
		default:
			tp.Explanation = ex
			if !ex.Usable {
				tp.Reason = causeText[ex.Reason]
				if tp.Reason == "" {
					tp.Reason = "the token cannot be used now"
				}
			}
		}
	}
	c.render(w, r, status, "token", v.page("tokens", tp))
	return nil
}

// revokeToken revokes one of my tokens.
func (c *console) revokeToken(w http.ResponseWriter, r *http.Request, v *visit) error {
	pat, err := c.gov.RevokeMyPAT(r.Context(), v.actor, r.PathValue("id"))
	if err != nil {
		if governance.KindOf(err) == 0 {
			return err
		}
		return c.renderTokens(w, r, v, statusOf(err), "", messageOf(err))
	}
	return c.renderTokens(w, r, v, http.StatusOK,
		"Token “"+pat.Name+"” is revoked: anything using it stops working now.", "")
}

// regenerateToken issues a new secret for one of my tokens and reveals it.
func (c *console) regenerateToken(w http.ResponseWriter, r *http.Request, v *visit) error {
	nt, err := c.gov.RegenerateMyPAT(r.Context(), v.actor, r.PathValue("id"), governance.PATRequest{})
	if err != nil {
		if governance.KindOf(err) == 0 {
			return err
		}
		return c.renderTokens(w, r, v, statusOf(err), "", messageOf(err))
	}
	c.reveal(w, r, v, &revealPage{NewToken: nt, Regenerated: true})
	return nil
}
