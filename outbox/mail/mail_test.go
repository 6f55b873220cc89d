package mail_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	stdmail "net/mail"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/google/uuid"

	"authserver/config"
	"authserver/outbox"
	"authserver/outbox/mail"
	"authserver/storage"
)

var _ mail.Users = storage.Store(nil)

// users is the owners' directory of a test.
type users map[string]*storage.User

func (u users) GetUser(_ context.Context, orgID, id string) (*storage.User, error) {
	if usr, ok := u[id]; ok && usr.OrgID == orgID {
		return usr, nil
	}
	return nil, storage.ErrNotFound
}

// failing is a directory whose database is down.
type failing struct{}

func (failing) GetUser(context.Context, string, string) (*storage.User, error) {
	return nil, errors.New("database unavailable")
}

const orgID = "org-1"

// received is one message the test server accepted.
type received struct {
	from string
	to   []string
	data string
	user string // the AUTH identity, "" without AUTH
}

// smtpServer is a local mail server that requires STARTTLS and AUTH PLAIN
// with one username and password, refuses recipients at refused.example
// for good (550) and at busy.example for now (450).
type smtpServer struct {
	addr     string
	port     int
	roots    *x509.CertPool
	mu       sync.Mutex
	messages []received
}

func (s *smtpServer) got() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.messages)
}

type session struct {
	srv      *smtpServer
	username string
	password string
	authed   string
	msg      received
}

func (ss *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (ss *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, username, password string) error {
		if username != ss.username || password != ss.password {
			return smtp.ErrAuthFailed
		}
		ss.authed = username
		return nil
	}), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if ss.username != "" && ss.authed == "" {
		return smtp.ErrAuthRequired
	}
	ss.msg = received{from: from, user: ss.authed}
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	switch {
	case strings.HasSuffix(to, "@refused.example"):
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"}
	case strings.HasSuffix(to, "@busy.example"):
		return &smtp.SMTPError{Code: 450, EnhancedCode: smtp.EnhancedCode{4, 2, 1}, Message: "Mailbox busy, try later"}
	}
	ss.msg.to = append(ss.msg.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.msg.data = string(b)
	ss.srv.mu.Lock()
	ss.srv.messages = append(ss.srv.messages, ss.msg)
	ss.srv.mu.Unlock()
	return nil
}

func (ss *session) Reset()        { ss.msg = received{} }
func (ss *session) Logout() error { return nil }

// startSMTP starts a mail server on 127.0.0.1 that offers STARTTLS with a
// certificate for 127.0.0.1 and, when username is set, requires AUTH.
func startSMTP(t *testing.T, username, password string) *smtpServer {
	return startSMTPWith(t, username, password, "starttls")
}

// startSMTPWith starts the server with TLS mode tls: starttls (offered),
// tls (from the first byte) or none (no TLS at all, AUTH in clear, as a
// local relay does).
func startSMTPWith(t *testing.T, username, password, mode string) *smtpServer {
	t.Helper()
	cert, roots := selfSigned(t)
	srv := &smtpServer{roots: roots}
	be := smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &session{srv: srv, username: username, password: password}, nil
	})
	s := smtp.NewServer(be)
	s.Domain = "localhost"
	s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	s.ReadTimeout, s.WriteTimeout = 5*time.Second, 5*time.Second
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.addr = l.Addr().String()
	srv.port = l.Addr().(*net.TCPAddr).Port
	switch mode {
	case "tls":
		l = tls.NewListener(l, s.TLSConfig)
	case "none":
		s.TLSConfig, s.AllowInsecureAuth = nil, true
	}
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })
	return srv
}

func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	parsed, _ := x509.ParseCertificate(der)
	roots := x509.NewCertPool()
	roots.AddCert(parsed)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, roots
}

// mailConfig loads the smtp section the way the server does, the password
// from smtp.password_file, and turns it into the sink's configuration.
func mailConfig(t *testing.T, srv *smtpServer, password string) mail.Config {
	t.Helper()
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "smtp-password")
	if err := os.WriteFile(pwFile, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(dir, "authserver.yaml")
	doc := "smtp:\n  host: 127.0.0.1\n  port: " + itoa(srv.port) + "\n  username: notices\n  password_file: " + pwFile +
		"\n  from: authserver <noreply@auth.example.com>\n  timeout: 2s\n"
	if err := os.WriteFile(cfgFile, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	m := cfg.SMTP
	return mail.Config{Host: m.Host, Port: m.Port, Username: m.Username, Password: m.Password.Reveal(), From: m.From,
		TLS: m.TLS, Timeout: m.Timeout.D(), TLSConfig: &tls.Config{RootCAs: srv.roots, ServerName: "127.0.0.1"}}
}

func itoa(n int) string { return big.NewInt(int64(n)).String() }

func revoked(userID, reason string) storage.Event {
	return storage.Event{ID: uuid.Must(uuid.NewV7()).String(), Type: storage.EventPATRevoked,
		Time: time.Date(2026, 12, 3, 9, 30, 0, 0, time.UTC), OrgID: orgID, UserID: userID, PATID: "pat-" + reason,
		Data: map[string]string{"name": "deploy bot", "reason": reason}}
}

func expiring(userID string) storage.Event {
	return storage.Event{ID: uuid.Must(uuid.NewV7()).String(), Type: storage.EventPATExpiryNotice,
		Time: time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC), OrgID: orgID, UserID: userID, PATID: "pat-exp",
		Data: map[string]string{"name": "nightly build", "days": "7", "expires_at": "2026-12-10T14:00:00Z"}}
}

func directory() users {
	return users{
		"alice": {ID: "alice", OrgID: orgID, Username: "alice", Email: "alice@example.com"},
		"bob":   {ID: "bob", OrgID: orgID, Username: "bob"},
		"carol": {ID: "carol", OrgID: orgID, Username: "carol", Email: "carol@refused.example"},
		"dave":  {ID: "dave", OrgID: orgID, Username: "dave", Email: "dave@busy.example"},
	}
}

func TestNoticesArriveWithNameWhatWhenAndLink(t *testing.T) {
	const password = "smtp-pass-Q7x"
	srv := startSMTP(t, "notices", password)
	sink, err := mail.New(mailConfig(t, srv, password), directory(), "https://auth.example.com")
	if err != nil {
		t.Fatal(err)
	}
	if sink.Kind() != "mail" {
		t.Errorf("Kind %q", sink.Kind())
	}
	ctx := context.Background()
	tests := []struct {
		e       storage.Event
		subject string
		body    []string
	}{
		{expiring("alice"), `Your token "nightly build" expires in 7 days`,
			[]string{`Your personal access token "nightly build" expires on 10 December 2026 14:00 UTC.`, "regenerate it",
				"https://auth.example.com/console/tokens/pat-exp"}},
		{revoked("alice", "admin"), `Your token "deploy bot" was revoked`,
			[]string{`Your personal access token "deploy bot" was revoked on 3 December 2026 09:30 UTC.`,
				"An administrator of your organization revoked it.", "https://auth.example.com/console/tokens/pat-admin"}},
		{revoked("alice", "cli"), `Your token "deploy bot" was revoked`, []string{"The server's operator revoked it.", "/console/tokens/pat-cli"}},
		{revoked("alice", "idle"), `Your token "deploy bot" was revoked`,
			[]string{"had not been used for longer than your organization allows", "/console/tokens/pat-idle"}},
		{storage.Event{ID: uuid.Must(uuid.NewV7()).String(), Type: storage.EventPATExpiryNotice, OrgID: orgID, UserID: "alice",
			PATID: "pat-soon", Data: map[string]string{"name": "line\nbreak"}},
			`Your token "line break" expires soon`, []string{`"line break" expires soon.`, "/console/tokens/pat-soon"}},
	}
	for i, tt := range tests {
		dests, err := sink.Destinations(ctx, tt.e)
		if err != nil || !slices.Equal(dests, []string{"alice"}) {
			t.Fatalf("%s: destinations %v, %v", tt.e.Type, dests, err)
		}
		if err := sink.Deliver(ctx, dests[0], tt.e); err != nil {
			t.Fatalf("%s %s: %v", tt.e.Type, tt.e.Data["reason"], err)
		}
		got := srv.got()
		if len(got) != i+1 {
			t.Fatalf("%d messages arrived, want %d", len(got), i+1)
		}
		m := got[i]
		if m.user != "notices" {
			t.Errorf("AUTH as %q, want the configured username", m.user)
		}
		if m.from != "noreply@auth.example.com" || !slices.Equal(m.to, []string{"alice@example.com"}) {
			t.Errorf("envelope from %q to %v", m.from, m.to)
		}
		msg, err := stdmail.ReadMessage(strings.NewReader(m.data))
		if err != nil {
			t.Fatal(err)
		}
		if to := msg.Header.Get("To"); !strings.Contains(to, "alice@example.com") {
			t.Errorf("To: %q", to)
		}
		if s := msg.Header.Get("Subject"); s != tt.subject {
			t.Errorf("Subject %q, want %q", s, tt.subject)
		}
		if id := msg.Header.Get("Message-Id"); id != "<"+tt.e.ID+".alice@auth.example.com>" {
			t.Errorf("Message-ID %q: want one derived from the event id", id)
		}
		if h := msg.Header.Get("X-Authserver-Event"); h != tt.e.ID {
			t.Errorf("X-Authserver-Event %q", h)
		}
		if ct := msg.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
			t.Errorf("Content-Type %q", ct)
		}
		body, _ := io.ReadAll(msg.Body)
		text := unfold(string(body))
		for _, want := range tt.body {
			if !strings.Contains(text, want) {
				t.Errorf("%s: body lacks %q:\n%s", tt.subject, want, text)
			}
		}
	}
}

// unfold undoes quoted-printable soft line breaks and joins lines, so
// expectations need not know where the encoder wrapped.
func unfold(s string) string {
	s = strings.ReplaceAll(s, "=\r\n", "")
	s = strings.ReplaceAll(s, "=\n", "")
	s = strings.ReplaceAll(s, "=3D", "=")
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.Join(strings.Fields(s), " ")
}

func TestRefusalsArePermanentOrRetried(t *testing.T) {
	const password = "smtp-pass-Q7x"
	srv := startSMTP(t, "notices", password)
	sink, err := mail.New(mailConfig(t, srv, password), directory(), "https://auth.example.com")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// 550 to RCPT TO: permanent, and the error names neither address nor password.
	err = sink.Deliver(ctx, "carol", revoked("carol", "admin"))
	if !outbox.IsPermanent(err) || !strings.Contains(err.Error(), "550") {
		t.Errorf("550: got %v, want a permanent error", err)
	}
	if err != nil && (strings.Contains(err.Error(), "refused.example") || strings.Contains(err.Error(), password)) {
		t.Errorf("the error quotes the address or password: %v", err)
	}
	// 450: retried.
	if err := sink.Deliver(ctx, "dave", revoked("dave", "admin")); err == nil || outbox.IsPermanent(err) || !strings.Contains(err.Error(), "450") {
		t.Errorf("450: got %v, want a retryable error", err)
	}
	// The user has no address anymore, or no longer exists: permanent.
	if err := sink.Deliver(ctx, "bob", revoked("bob", "admin")); !outbox.IsPermanent(err) {
		t.Errorf("no address: %v", err)
	}
	if err := sink.Deliver(ctx, "zed", revoked("zed", "admin")); !outbox.IsPermanent(err) {
		t.Errorf("no such user: %v", err)
	}
	if len(srv.got()) != 0 {
		t.Errorf("%d messages arrived", len(srv.got()))
	}

	// A wrong password is the configuration's fault: retried, and the
	// password is never in the error.
	cfg := mailConfig(t, srv, "wrong-"+password)
	wrong, err := mail.New(cfg, directory(), "https://auth.example.com")
	if err != nil {
		t.Fatal(err)
	}
	err = wrong.Deliver(ctx, "alice", revoked("alice", "admin"))
	if err == nil || outbox.IsPermanent(err) || strings.Contains(err.Error(), password) {
		t.Errorf("wrong password: got %v, want a retryable error without the password", err)
	}
	// The server is down: retried.
	down := mailConfig(t, srv, password)
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	down.Port = l.Addr().(*net.TCPAddr).Port
	l.Close()
	sinkDown, _ := mail.New(down, directory(), "https://auth.example.com")
	if err := sinkDown.Deliver(ctx, "alice", revoked("alice", "admin")); err == nil || outbox.IsPermanent(err) {
		t.Errorf("server down: got %v, want a retryable error", err)
	}
}

func TestStartTLSIsRequired(t *testing.T) {
	srv := startSMTP(t, "", "")
	cfg := mailConfig(t, srv, "unused")
	cfg.Username, cfg.Password = "", ""
	// A certificate the client does not trust: nothing is sent.
	cfg.TLSConfig = &tls.Config{ServerName: "127.0.0.1"}
	sink, err := mail.New(cfg, directory(), "https://auth.example.com")
	if err != nil {
		t.Fatal(err)
	}
	if err := sink.Deliver(context.Background(), "alice", expiring("alice")); err == nil || outbox.IsPermanent(err) {
		t.Errorf("untrusted certificate: got %v, want a retryable error", err)
	}
	if len(srv.got()) != 0 {
		t.Error("a message went out over a connection whose certificate was not verified")
	}
}

func TestDestinations(t *testing.T) {
	srv := startSMTP(t, "", "")
	cfg := mailConfig(t, srv, "x")
	on, err := mail.New(cfg, directory(), "https://auth.example.com")
	if err != nil {
		t.Fatal(err)
	}
	off, err := mail.New(mail.Config{}, directory(), "https://auth.example.com")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, tt := range []struct {
		name string
		sink *mail.Sink
		e    storage.Event
		want []string
	}{
		{"expiry notice", on, expiring("alice"), []string{"alice"}},
		{"revoked by an admin", on, revoked("alice", "admin"), []string{"alice"}},
		{"revoked by value", on, revoked("alice", "value"), []string{"alice"}},
		{"revoked by the operator", on, revoked("alice", "cli"), []string{"alice"}},
		{"revoked idle", on, revoked("alice", "idle"), []string{"alice"}},
		{"revoked leaked", on, revoked("alice", "leaked"), []string{"alice"}},
		{"revoked by the owner", on, revoked("alice", "owner"), nil},
		{"revoked by regeneration", on, revoked("alice", "regenerated"), nil},
		{"revoked by the holder", on, revoked("alice", "holder"), nil},
		{"created", on, storage.Event{ID: "e", Type: storage.EventPATCreated, OrgID: orgID, UserID: "alice", PATID: "p"}, nil},
		{"user deactivated", on, storage.Event{ID: "e", Type: storage.EventUserDeactivated, OrgID: orgID, UserID: "alice"}, nil},
		{"owner without an address", on, expiring("bob"), nil},
		{"owner gone", on, expiring("zed"), nil},
		{"no SMTP configured", off, expiring("alice"), nil},
	} {
		got, err := tt.sink.Destinations(ctx, tt.e)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("%s: got %v, %v; want %v", tt.name, got, err, tt.want)
		}
	}
	// The owner cannot be read: an error, so the fan-out is tried again.
	broken, _ := mail.New(cfg, failing{}, "https://auth.example.com")
	if _, err := broken.Destinations(ctx, expiring("alice")); err == nil {
		t.Error("a database fault named no destination instead of failing")
	}
	if err := off.Deliver(ctx, "alice", expiring("alice")); !outbox.IsPermanent(err) {
		t.Errorf("Deliver without SMTP: %v", err)
	}
}

func TestImplicitTLS(t *testing.T) {
	const password = "smtp-pass-Q7x"
	srv := startSMTPWith(t, "notices", password, "tls")
	cfg := mailConfig(t, srv, password)
	cfg.TLS = mail.ImplicitTLS
	sink, err := mail.New(cfg, directory(), "https://auth.example.com")
	if err != nil {
		t.Fatal(err)
	}
	if err := sink.Deliver(context.Background(), "alice", expiring("alice")); err != nil {
		t.Fatal(err)
	}
	if got := srv.got(); len(got) != 1 || got[0].user != "notices" {
		t.Errorf("messages %+v", got)
	}
}

func TestNoTLSToALoopbackRelay(t *testing.T) {
	const password = "smtp-pass-Q7x"
	srv := startSMTPWith(t, "notices", password, "none")
	cfg := mailConfig(t, srv, password)
	cfg.TLS = mail.NoTLS
	sink, err := mail.New(cfg, directory(), "https://auth.example.com")
	if err != nil {
		t.Fatal(err)
	}
	if err := sink.Deliver(context.Background(), "alice", revoked("alice", "idle")); err != nil {
		t.Fatal(err)
	}
	if got := srv.got(); len(got) != 1 || got[0].user != "notices" {
		t.Errorf("messages %+v", got)
	}
	// The same relay with starttls configured: it offers no STARTTLS, so
	// nothing is sent, and the delivery is retried.
	cfg.TLS = mail.StartTLS
	strict, _ := mail.New(cfg, directory(), "https://auth.example.com")
	if err := strict.Deliver(context.Background(), "alice", revoked("alice", "idle")); err == nil || outbox.IsPermanent(err) {
		t.Errorf("no STARTTLS offered: got %v, want a retryable error", err)
	}
	if len(srv.got()) != 1 {
		t.Error("a message went out in clear although starttls was configured")
	}
}

func TestNewRefusesBadSettings(t *testing.T) {
	ok := mail.Config{Host: "smtp.example.com", Port: 587, From: "a@example.com"}
	for name, change := range map[string]func(c *mail.Config){
		"no TLS beyond this machine": func(c *mail.Config) { c.TLS = mail.NoTLS },
		"unknown TLS mode":           func(c *mail.Config) { c.TLS = "ssl" },
		"no port":                    func(c *mail.Config) { c.Port = 0 },
		"no sender":                  func(c *mail.Config) { c.From = "" },
	} {
		c := ok
		change(&c)
		if _, err := mail.New(c, directory(), "https://auth.example.com"); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := mail.New(ok, directory(), "https://auth.example.com"); err != nil {
		t.Errorf("valid settings: %v", err)
	}
	if _, err := mail.New(ok, directory(), "/relative"); err == nil {
		t.Error("a relative console URL: accepted")
	}
}
