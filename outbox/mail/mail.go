// Package mail tells owners by e-mail what happened to their tokens when
// they did not do it themselves: a token about to expire, a token an
// administrator or the operator revoked, a token revoked for being unused
// or for being reported leaked.
//
// The destination of an event is its owner, by user id; the address is
// read when the message is sent, so a changed address is honoured and a
// removed one stops the delivery. A message names the token (its name,
// never its value), says what happened and when, and links to the token's
// page in the console, where it can be regenerated. Its Message-ID is
// derived from the event id, so that a message delivered twice is
// recognisably the same message.
package mail

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"text/template"
	"time"

	gomail "github.com/wneessen/go-mail"

	"authserver/internal/httpx"
	"authserver/outbox"
	"authserver/storage"
)

// Kind is the sink's name in the outbox.
const Kind = "mail"

// The values of Config.TLS.
const (
	StartTLS    = "starttls"
	ImplicitTLS = "tls"
	NoTLS       = "none"
)

// Config is the mail server and the sender.
type Config struct {
	// Host is the mail server; "" sends no mail (Destinations names none).
	Host string
	Port int
	// Username and Password authenticate (SMTP AUTH, the strongest
	// mechanism both sides support); no Username, no AUTH.
	Username string
	Password string
	// From is the sender address.
	From string
	// TLS is StartTLS (the default; the server must offer STARTTLS),
	// ImplicitTLS or NoTLS.
	TLS string
	// Timeout bounds connecting and each command; 0 means 10 seconds.
	Timeout time.Duration
	// TLSConfig verifies the server; nil verifies Host against the
	// system's roots.
	TLSConfig *tls.Config
}

// Users reads a user, for its e-mail address; any storage.Store is one.
type Users interface {
	GetUser(ctx context.Context, orgID, id string) (*storage.User, error)
}

// Sink sends owners' notices.
type Sink struct {
	cfg     Config
	users   Users
	console string
	host    string // for Message-IDs
}

var _ outbox.Sink = (*Sink)(nil)

// New builds the sink. consoleURL is the base URL of the console (the
// issuer): the links in messages are consoleURL + /console/tokens/<id>.
func New(cfg Config, users Users, consoleURL string) (*Sink, error) {
	if users == nil {
		return nil, errors.New("mail: a user store is required")
	}
	u, err := url.Parse(consoleURL)
	if err != nil || u.Host == "" {
		return nil, errors.New("mail: the console URL must be absolute")
	}
	if cfg.TLS == "" {
		cfg.TLS = StartTLS
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Host != "" {
		switch {
		case cfg.TLS != StartTLS && cfg.TLS != ImplicitTLS && cfg.TLS != NoTLS:
			return nil, errors.New("mail: TLS must be starttls, tls or none")
		case cfg.Port < 1 || cfg.Port > 65535:
			return nil, errors.New("mail: the port must be from 1 to 65535")
		case cfg.From == "":
			return nil, errors.New("mail: a sender address is required")
		case cfg.TLS == NoTLS && !httpx.LoopbackHost(cfg.Host):
			return nil, errors.New("mail: TLS none is allowed only with a loopback host")
		}
	}
	return &Sink{cfg: cfg, users: users, console: strings.TrimSuffix(consoleURL, "/"), host: u.Hostname()}, nil
}

// Kind is "mail".
func (s *Sink) Kind() string { return Kind }

// Destinations names the owner (by user id) of a token e is a notice
// about, when mail is configured and the owner has an address.
func (s *Sink) Destinations(ctx context.Context, e storage.Event) ([]string, error) {
	if s.cfg.Host == "" || !wanted(e) {
		return nil, nil
	}
	u, err := s.users.GetUser(ctx, e.OrgID, e.UserID)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("mail: read the owner: %w", err)
	case u.Email == "":
		return nil, nil
	}
	return []string{u.ID}, nil
}

// revokedByOthers are the revocation reasons an owner is told about: those
// where someone or something else acted.
var revokedByOthers = map[string]bool{"admin": true, "value": true, "cli": true, "idle": true, "leaked": true}

// wanted reports whether e is one an owner is mailed about.
func wanted(e storage.Event) bool {
	if e.UserID == "" || e.PATID == "" {
		return false
	}
	switch e.Type {
	case storage.EventPATExpiryNotice:
		return true
	case storage.EventPATRevoked:
		return revokedByOthers[e.Data["reason"]]
	}
	return false
}

// Deliver sends the notice of e to the user dest. A recipient or message
// the server refuses for good (a 5xx reply to RCPT TO or to the message),
// a user who no longer exists or no longer has an address end the
// delivery; everything else (4xx replies, the network, TLS, a refused
// AUTH or sender, which the configuration must fix) is retried.
func (s *Sink) Deliver(ctx context.Context, dest string, e storage.Event) error {
	if s.cfg.Host == "" {
		return outbox.Permanent(errors.New("mail: no mail server is configured"))
	}
	if !wanted(e) {
		return outbox.Permanent(fmt.Errorf("mail: no notice for event type %s", strconv.Quote(e.Type)))
	}
	u, err := s.users.GetUser(ctx, e.OrgID, dest)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return outbox.Permanent(errors.New("mail: the user no longer exists"))
	case err != nil:
		return fmt.Errorf("mail: read the user: %w", err)
	case u.Email == "":
		return outbox.Permanent(errors.New("mail: the user no longer has an e-mail address"))
	}
	msg, err := s.message(e, u.Email)
	if err != nil {
		return err
	}
	client, err := s.client()
	if err != nil {
		return outbox.Permanent(fmt.Errorf("mail: %w", err))
	}
	ctx, cancel := context.WithTimeout(ctx, 4*s.cfg.Timeout)
	defer cancel()
	return classify(client.DialAndSendWithContext(ctx, msg))
}

// client is a go-mail client for one delivery.
func (s *Sink) client() (*gomail.Client, error) {
	tc := s.cfg.TLSConfig
	if tc == nil {
		tc = &tls.Config{ServerName: s.cfg.Host, MinVersion: tls.VersionTLS12}
	}
	opts := []gomail.Option{gomail.WithPort(s.cfg.Port), gomail.WithTimeout(s.cfg.Timeout), gomail.WithTLSConfig(tc)}
	switch s.cfg.TLS {
	case ImplicitTLS:
		opts = append(opts, gomail.WithSSL())
	case NoTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	if s.cfg.Username != "" {
		auth := gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover)
		if s.cfg.TLS == NoTLS {
			// Only to a loopback host (the configuration's rule), where
			// the password does not cross a network: mechanisms that send
			// it in clear are allowed there, and a local relay often
			// offers nothing else.
			auth = gomail.WithOpportunisticSMTPAuth(gomail.SMTPAuthPlainNoEnc, gomail.SMTPAuthLoginNoEnc)
		}
		opts = append(opts, auth, gomail.WithUsername(s.cfg.Username), gomail.WithPassword(s.cfg.Password))
	}
	c, err := gomail.NewClient(s.cfg.Host, opts...)
	if err != nil {
		return nil, errors.New("the mail client cannot be built from the configuration")
	}
	return c, nil
}

// classify turns a send error into the outbox's terms, in words that name
// neither the recipient nor the credentials.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var se *gomail.SendError
	if !errors.As(err, &se) {
		return errors.New("mail: sending failed: " + firstLine(err))
	}
	code := se.ErrorCode()
	what := fmt.Sprintf("mail: the server answered %d to %s", code, se.Reason)
	if code == 0 {
		what = "mail: sending failed at " + se.Reason.String()
	}
	if code >= 500 && code < 600 && (se.Reason == gomail.ErrSMTPRcptTo || se.Reason == gomail.ErrSMTPData || se.Reason == gomail.ErrSMTPDataClose) {
		return outbox.Permanent(errors.New(what))
	}
	return errors.New(what)
}

// firstLine is the first line of err's text, without anything after a
// colon that could quote a server's reply.
func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

// message builds the notice of e to addr.
func (s *Sink) message(e storage.Event, addr string) (*gomail.Msg, error) {
	n := notice{
		Name:    e.Data["name"],
		Link:    s.console + "/console/tokens/" + url.PathEscape(e.PATID),
		When:    e.Time.UTC().Format(timeLayout),
		Reason:  e.Data["reason"],
		Days:    e.Data["days"],
		Expires: e.Data["expires_at"],
	}
	if t, err := time.Parse(time.RFC3339, n.Expires); err == nil {
		n.Expires = t.UTC().Format(timeLayout)
	}
	tpl := revokedTemplate
	if e.Type == storage.EventPATExpiryNotice {
		tpl = expiryTemplate
	}
	var subject, body bytes.Buffer
	if err := tpl.ExecuteTemplate(&subject, "subject", n); err != nil {
		return nil, outbox.Permanent(fmt.Errorf("mail: subject: %w", err))
	}
	if err := tpl.ExecuteTemplate(&body, "body", n); err != nil {
		return nil, outbox.Permanent(fmt.Errorf("mail: body: %w", err))
	}
	m := gomail.NewMsg()
	if err := m.From(s.cfg.From); err != nil {
		return nil, outbox.Permanent(errors.New("mail: the sender address does not parse"))
	}
	if err := m.To(addr); err != nil {
		return nil, outbox.Permanent(errors.New("mail: the user's address does not parse"))
	}
	m.Subject(oneLine(subject.String()))
	m.SetMessageIDWithValue(e.ID + "." + e.UserID + "@" + s.host)
	m.SetGenHeader("X-Authserver-Event", e.ID)
	m.SetDate()
	m.SetUserAgent("authserver")
	m.SetBodyString(gomail.TypeTextPlain, body.String())
	return m, nil
}

const timeLayout = "2 January 2006 15:04 UTC"

// oneLine keeps a subject on one line, whatever a token's name holds.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// notice is what the templates fill in.
type notice struct {
	Name, Link, When, Reason, Days, Expires string
}

var funcs = template.FuncMap{
	// by says who or what revoked a token, by its revocation reason.
	"by": func(reason string) string {
		switch reason {
		case "admin", "value":
			return "An administrator of your organization revoked it"
		case "cli":
			return "The server's operator revoked it"
		case "idle":
			return "It was revoked because it had not been used for longer than your organization allows"
		case "leaked":
			return "It was revoked because its value was reported as exposed (leaked)"
		}
		return "It was revoked"
	},
}

var expiryTemplate = template.Must(template.New("expiry").Funcs(funcs).Parse(`
{{- define "subject"}}Your token "{{.Name}}" expires {{with .Days}}in {{.}} day{{if ne . "1"}}s{{end}}{{else}}soon{{end}}{{end}}
{{- define "body"}}Your personal access token "{{.Name}}" expires {{with .Expires}}on {{.}}{{else}}soon{{end}}.

After that it stops working, and so does everything that uses it. To go
on without a gap, regenerate it before then (a new value, the same name,
scopes and folders) and put the new value where the old one is used:

  {{.Link}}

You receive this because you own the token.
{{end}}`))

var revokedTemplate = template.Must(template.New("revoked").Funcs(funcs).Parse(`
{{- define "subject"}}Your token "{{.Name}}" was revoked{{end}}
{{- define "body"}}Your personal access token "{{.Name}}" was revoked on {{.When}}.
{{by .Reason}}.

It no longer works. Its details are in the console, where you can
create a new token if you still need one:

  {{.Link}}

You receive this because you own the token.
{{end}}`))
