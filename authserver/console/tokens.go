package console

import (
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"authserver/exchange"
	"authserver/governance"
	"authserver/internal/duration"
	"authserver/storage"
)

// My tokens: the signed-in user's own PATs.

// tokensPage is the data of the list of my tokens.
type tokensPage struct {
	Items []tokenRow
	patFilters
	// Next is the cursor of the next page ("" on the last); Paged is set
	// when this is not the first page.
	Next  string
	Paged bool
	// PagerQuery is the filters as the pager's links carry them.
	PagerQuery template.URL
	// Enabled is the organization's pats_enabled.
	Enabled bool
}

// tokenRow is a PAT in a list, with the days left when it ends within a
// week (-1 otherwise).
type tokenRow struct {
	governance.PATView
	DaysLeft int
}

func tokenRows(items []governance.PATView, now time.Time) []tokenRow {
	out := make([]tokenRow, len(items))
	for i := range items {
		out[i] = tokenRow{PATView: items[i], DaysLeft: items[i].ExpiresInDays(now)}
	}
	return out
}

// patFilters are the filters both token lists take, as the query (or the
// hidden fields of a form) gives them.
type patFilters struct {
	Name, Status, Audience string
	Expiring               bool
	// Owner is a username, on the organization's list (ByOwner).
	Owner   string
	ByOwner bool
	// Audiences are the choices of the audience filter.
	Audiences []storage.Audience
}

// readPATFilters reads the filters of r.
func (c *console) readPATFilters(r *http.Request) (patFilters, error) {
	auds, err := c.catalog.List(r.Context())
	if err != nil {
		return patFilters{}, err
	}
	return patFilters{Name: strings.TrimSpace(r.FormValue("name")), Status: r.FormValue("status"),
		Audience: r.FormValue("audience"), Expiring: r.FormValue("expiring") == "true", Audiences: auds}, nil
}

// filter is f as governance takes it.
func (f patFilters) filter(cursor string) governance.PATFilter {
	return governance.PATFilter{Name: f.Name, Status: storage.PATStatus(f.Status), Audience: f.Audience,
		Expiring: f.Expiring, Cursor: cursor}
}

// Any reports whether a filter is set.
func (f patFilters) Any() bool {
	return f.Name != "" || f.Status != "" || f.Audience != "" || f.Expiring || f.Owner != ""
}

// query is the filters as a query string (without cursor), for the
// pager's links: encoded here, so the template takes it as is.
func (f patFilters) query() template.URL {
	q := url.Values{}
	for k, v := range map[string]string{"name": f.Name, "status": f.Status, "audience": f.Audience, "owner": f.Owner} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if f.Expiring {
		q.Set("expiring", "true")
	}
	return template.URL(q.Encode())
}

func (c *console) tokens(w http.ResponseWriter, r *http.Request, v *visit) error {
	return c.renderTokens(w, r, v, http.StatusOK, "", "")
}

// renderTokens renders my tokens under the filters of the request, with a
// notice or an error from the action that led here.
func (c *console) renderTokens(w http.ResponseWriter, r *http.Request, v *visit, status int, notice, errMsg string) error {
	fs, err := c.readPATFilters(r)
	if err != nil {
		return err
	}
	cursor := r.FormValue("cursor")
	if r.Method != http.MethodGet {
		fs, cursor = patFilters{Audiences: fs.Audiences}, "" // after an action, the whole list
	}
	d := &tokensPage{patFilters: fs, Enabled: v.me.Organization.PATsEnabled, PagerQuery: fs.query()}
	p := v.page("tokens", d)
	p.Notice, p.Error = notice, errMsg
	list, err := c.gov.ListMyPATs(r.Context(), v.actor, fs.filter(cursor))
	if governance.KindOf(err) == governance.Invalid {
		p.Error = messageOf(err)
		c.render(w, r, http.StatusBadRequest, "tokens", p)
		return nil
	}
	if err != nil {
		return err
	}
	d.Items, d.Next, d.Paged = tokenRows(list.Items, c.now().UTC()), list.Next, cursor != ""
	c.render(w, r, status, "tokens", p)
	return nil
}

// Expiry choices of the generate and regenerate forms: a preset number
// of days ("7", "30", "60", "90"), or one of these.
const (
	expiryDate  = "date"  // on a chosen date
	expiryMax   = "max"   // the organization's maximum
	expiryNever = "never" // no expiry, where the organization allows it
)

// expiryPresets are the lifetimes offered, in days, where the
// organization's maximum allows them.
var expiryPresets = []int{7, 30, 60, 90}

// defaultPresetDays is the preset chosen by default, when the maximum
// allows it (else the maximum is).
const defaultPresetDays = 30

// dateLayout is the value format of <input type=date>.
const dateLayout = "2006-01-02"

// expiryPreset is one preset lifetime with the day it ends on.
type expiryPreset struct {
	Days int
	On   string
}

// expiryForm is the expiry picker of the generate and regenerate forms.
type expiryForm struct {
	Presets []expiryPreset
	// Choice is the chosen option, ExpiresOn the chosen date.
	Choice    string
	ExpiresOn string
	// The date bounds: dates are UTC; a token expires at 00:00 UTC of its
	// date. DateAllowed is false when the organization's maximum is
	// shorter than a day.
	MinDate, MaxDate string
	DateAllowed      bool
	// MaxLifetime is the organization's maximum (0: none). MaxOption
	// offers it as a choice of its own, when no preset is exactly it;
	// MaxOn is the day it ends on.
	MaxLifetime time.Duration
	MaxOption   bool
	MaxOn       string
	// Never offers no expiry: only without a maximum.
	Never bool
}

// newExpiryForm is the picker for an organization with the maximum
// lifetime maxLife, at now, with its default choice: 30 days, or the
// maximum when that is shorter.
func newExpiryForm(now time.Time, maxLife time.Duration) *expiryForm {
	today := dayStart(now)
	f := &expiryForm{MaxLifetime: maxLife, MinDate: today.AddDate(0, 0, 1).Format(dateLayout), DateAllowed: true,
		Never: maxLife == 0}
	for _, d := range expiryPresets {
		if maxLife == 0 || time.Duration(d)*24*time.Hour <= maxLife {
			f.Presets = append(f.Presets, expiryPreset{Days: d, On: now.AddDate(0, 0, d).Format(dateLayout)})
		}
	}
	if maxLife > 0 {
		last := dayStart(now.Add(maxLife))
		f.MaxDate = last.Format(dateLayout)
		f.DateAllowed = last.After(today)
		f.MaxOn = now.Add(maxLife).Format(dateLayout)
		f.MaxOption = maxLife%(24*time.Hour) != 0 || !slices.Contains(expiryPresets, int(maxLife/(24*time.Hour)))
	}
	f.Choice = expiryMax
	if maxLife == 0 || defaultPresetDays*24*time.Hour <= maxLife {
		f.Choice = strconv.Itoa(defaultPresetDays)
	}
	def := today.AddDate(0, 0, defaultPresetDays)
	if maxLife > 0 && def.After(dayStart(now.Add(maxLife))) {
		def = dayStart(now.Add(maxLife))
	}
	if f.DateAllowed {
		f.ExpiresOn = def.Format(dateLayout)
	}
	return f
}

// read takes the choice of a submitted form into f and req. It returns a
// message for the person when the choice cannot be read; governance judges
// the expiry itself. A form without a choice leaves req's expiry unset
// (governance's default).
func (f *expiryForm) read(form url.Values, now time.Time, req *governance.PATRequest) string {
	f.Choice, f.ExpiresOn = form.Get("expiry"), form.Get("expires_on")
	switch f.Choice {
	case "":
	case expiryDate:
		d, err := time.Parse(dateLayout, f.ExpiresOn)
		if err != nil {
			return "Expiry date: choose a date."
		}
		req.ExpiresAt = &d
	case expiryNever:
		req.NoExpiry = true
	case expiryMax:
		req.AtMaximum = true
	default:
		days, err := strconv.Atoi(f.Choice)
		if err != nil || !slices.Contains(expiryPresets, days) {
			return "Expiry: choose one of the options."
		}
		req.ExpiresAt = ptr(now.AddDate(0, 0, days))
	}
	return ""
}

func ptr[T any](v T) *T { return &v }

// newTokenPage is the data of the generate form.
type newTokenPage struct {
	Enabled   bool
	Audiences []storage.Audience
	// DelegateClients are the clients the owner may allow to exchange the
	// token's access tokens on their behalf (chained exchange).
	DelegateClients []governance.DelegateClient
	// The form's values.
	Name      string
	Scopes    []string
	Delegates []string
	Expiry    *expiryForm
	// Field names the field an error is about.
	Field string
	// AllowedCIDRs is the allowed-networks text area as typed.
	AllowedCIDRs string
}

// newTokenForm fills the generate form's choices for v's organization,
// and its defaults.
func (c *console) newTokenForm(r *http.Request, v *visit) (*newTokenPage, error) {
	auds, err := c.catalog.List(r.Context())
	if err != nil {
		return nil, err
	}
	delegates, err := c.gov.DelegateClients(r.Context())
	if err != nil {
		return nil, err
	}
	return &newTokenPage{Enabled: v.me.Organization.PATsEnabled, Audiences: auds, DelegateClients: delegates,
		Expiry: newExpiryForm(c.now().UTC(), v.me.Organization.PATMaxLifetime)}, nil
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
	f.Name, f.Scopes, f.Delegates = form.Get("name"), form["scopes"], form["delegates"]
	f.AllowedCIDRs = form.Get("allowed_cidrs")
	req := governance.PATRequest{Name: f.Name, Scopes: f.Scopes, Delegates: f.Delegates, AllowedCIDRs: splitNetworks(f.AllowedCIDRs)}
	again := func(status int, field, msg string) error {
		f.Field = field
		f.Name, f.Expiry.ExpiresOn = c.refill(f.Name), c.refill(f.Expiry.ExpiresOn)
		f.AllowedCIDRs = c.refill(f.AllowedCIDRs)
		p := v.page("tokens", f)
		p.Error = msg
		c.render(w, r, status, "token_new", p)
		return nil
	}
	if msg := f.Expiry.read(form, c.now().UTC(), &req); msg != "" {
		return again(http.StatusBadRequest, "expires_at", msg)
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
	// Expiry is the expiry picker of the regenerate dialog.
	Expiry   *expiryForm
	DaysLeft int
	// Overlap is the regenerate dialog's overlap choice ("": the first).
	Overlap string
}

// OverlapChoices are the regenerate dialog's overlap choices.
func (tokenPage) OverlapChoices() []struct{ Value, Label string } { return overlapChoices }

// causeText says in words why a PAT cannot be exchanged now. Its owner may
// know what the token endpoint keeps to itself.
var causeText = map[exchange.Cause]string{
	exchange.CauseRevoked:         "the token is revoked",
	exchange.CauseExpired:         "the token has expired",
	exchange.CauseMaxLifetime:     "the token is older than your organization's maximum lifetime",
	exchange.CauseOrgDisabled:     "personal access tokens are disabled in your organization",
	exchange.CauseUserDeactivated: "your account is deactivated",
	exchange.CauseNonLocal:        "only local users' tokens can be exchanged",
	exchange.CauseReused:          "the token was regenerated and this value no longer works",
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
	now := c.now().UTC()
	tp := &tokenPage{PAT: pat, Audiences: auds, Audience: q.Get("audience"), Scope: q.Get("scope"),
		Expiry: newExpiryForm(now, v.me.Organization.PATMaxLifetime), DaysLeft: pat.ExpiresInDays(now)}
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
	if pat.ReplacedBy != "" {
		return c.renderTokens(w, r, v, http.StatusOK,
			"The old value of token “"+pat.Name+"” stops working now.", "")
	}
	return c.renderTokens(w, r, v, http.StatusOK,
		"Token “"+pat.Name+"” is revoked: anything using it stops working now.", "")
}

// regeneratePage is the data of the regenerate form, a page of its own
// where the token page's dialog is not available (no script) and for the
// lists' links.
type regeneratePage struct {
	PAT    *governance.PATView
	Expiry *expiryForm
	// Overlap is the overlap chosen (overlapChoices).
	Overlap string
}

// regenerateForm shows the regenerate form of one of my tokens.
func (c *console) regenerateForm(w http.ResponseWriter, r *http.Request, v *visit) error {
	pat, err := c.gov.GetMyPAT(r.Context(), v.actor, r.PathValue("id"))
	if err != nil {
		return err
	}
	d := &regeneratePage{PAT: pat, Expiry: newExpiryForm(c.now().UTC(), v.me.Organization.PATMaxLifetime)}
	c.render(w, r, http.StatusOK, "token_regenerate", v.page("tokens", d))
	return nil
}

// regenerateToken issues a new secret for one of my tokens, with the
// expiry the form chose (without a choice, governance's default: the old
// lifetime from now), and reveals it. A refusal of the expiry shows the
// form again.
func (c *console) regenerateToken(w http.ResponseWriter, r *http.Request, v *visit) error {
	ctx := r.Context()
	now := c.now().UTC()
	ef := newExpiryForm(now, v.me.Organization.PATMaxLifetime)
	var req governance.PATRequest
	msg := ef.read(r.PostForm, now, &req)
	overlap := r.PostForm.Get("overlap")
	if msg == "" {
		msg = readOverlap(overlap, &req)
	}
	var (
		nt  *governance.NewToken
		err error
	)
	if msg == "" {
		nt, err = c.gov.RegenerateMyPAT(ctx, v.actor, r.PathValue("id"), req)
		if governance.KindOf(err) == 0 && err != nil {
			return err
		}
	}
	if f := fieldOf(err); msg != "" || f == "expires_at" || f == "overlap" {
		pat, gerr := c.gov.GetMyPAT(ctx, v.actor, r.PathValue("id"))
		if gerr != nil {
			return gerr
		}
		if msg == "" {
			msg = messageOf(err)
		}
		ef.ExpiresOn = c.refill(ef.ExpiresOn)
		p := v.page("tokens", &regeneratePage{PAT: pat, Expiry: ef, Overlap: c.refill(overlap)})
		p.Error = msg
		c.render(w, r, http.StatusBadRequest, "token_regenerate", p)
		return nil
	}
	if err != nil {
		return c.renderTokens(w, r, v, statusOf(err), "", messageOf(err))
	}
	c.reveal(w, r, v, &revealPage{NewToken: nt, Regenerated: true})
	return nil
}

// overlapChoices are the overlaps the regenerate form offers: how long the
// old value keeps working, as durations (duration.Parse).
var overlapChoices = []struct{ Value, Label string }{
	{"0", "At once"},
	{"1h", "In 1 hour"},
	{"1d", "In 1 day"},
	{"3d", "In 3 days"},
	{"7d", "In 7 days"},
}

// OverlapChoices are the regenerate form's overlap choices, for the
// templates.
func (regeneratePage) OverlapChoices() []struct{ Value, Label string } { return overlapChoices }

// readOverlap takes the regenerate form's overlap into req: "" or "0"
// is none. It returns a message when the value is not a duration;
// governance judges the overlap itself.
func readOverlap(v string, req *governance.PATRequest) string {
	if v == "" {
		return ""
	}
	d, err := duration.Parse(v)
	if err != nil {
		return "Current value stops: choose one of the options."
	}
	req.Overlap = d
	return ""
}

// splitNetworks reads the allowed-networks text area: networks separated
// by new lines, spaces or commas.
func splitNetworks(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r' })
}
