package config

import "testing"

func TestValidateSSFAndSMTP(t *testing.T) {
	receiver := func() SSFReceiver {
		return SSFReceiver{Name: "siem", URL: "https://siem.example.com/events", Audience: "https://siem.example.com",
			Authorization: "Bearer " + canary}
	}
	mailOn := func(c *Config) {
		c.SMTP.Host, c.SMTP.Port, c.SMTP.From = "smtp.example.com", 587, "authserver <noreply@example.com>"
		c.SMTP.Username, c.SMTP.Password = "authserver", canary
	}
	tests := []struct {
		name   string
		change func(c *Config)
		want   []string // nil: valid
	}{
		{"a receiver is valid", func(c *Config) { c.Events.SSF.Receivers = []SSFReceiver{receiver()} }, nil},
		{"http to a loopback receiver is valid", func(c *Config) {
			r := receiver()
			r.URL, r.Events = "http://127.0.0.1:9000/events", []string{"pat.revoked", "user.deactivated"}
			c.Events.SSF.Receivers = []SSFReceiver{r}
		}, nil},
		{"receiver names are unique and urls https", func(c *Config) {
			a, b := receiver(), receiver()
			b.URL = "http://siem.example.com/events"
			c.Events.SSF.Receivers = []SSFReceiver{a, b}
		}, []string{
			"events.ssf.receivers[1].name: duplicate receiver name (first at events.ssf.receivers[0])",
			"events.ssf.receivers[1].url: must use https: only a loopback host (127.0.0.1, ::1, localhost) may be reached over http",
		}},
		{"a receiver needs a name, url and audience", func(c *Config) { c.Events.SSF.Receivers = []SSFReceiver{{}} }, []string{
			"events.ssf.receivers[0].name: must not be empty",
			"events.ssf.receivers[0].url: must not be empty",
			"events.ssf.receivers[0].audience: must not be empty",
		}},
		{"receiver url shapes", func(c *Config) {
			a, b, d := receiver(), receiver(), receiver()
			a.URL, b.Name, b.URL, d.Name, d.URL = "siem.example.com/events", "b", "https://u:"+canary+"@siem.example.com/", "d", "https://siem.example.com/#x"
			c.Events.SSF.Receivers = []SSFReceiver{a, b, d}
		}, []string{
			"events.ssf.receivers[0].url: must be an absolute https URL, such as https://receiver.example.com/events",
			"events.ssf.receivers[1].url: must not contain a user name or password: put credentials in authorization",
			"events.ssf.receivers[2].url: must not have a fragment",
		}},
		{"authorization is one header line", func(c *Config) {
			r := receiver()
			r.Authorization = "Bearer " + canary + "\r\nX-Injected: 1"
			c.Events.SSF.Receivers = []SSFReceiver{r}
		}, []string{"events.ssf.receivers[0].authorization: must be one line of printable characters without surrounding spaces, such as Bearer and a token"}},
		{"events are known and distinct", func(c *Config) {
			r := receiver()
			r.Events = []string{"pat.revoked", "role.changed", "pat.revoked"}
			c.Events.SSF.Receivers = []SSFReceiver{r}
		}, []string{
			"events.ssf.receivers[0].events[1]: must be pat.created, pat.regenerated, pat.revoked, user.deactivated or user.reactivated",
			`events.ssf.receivers[0].events[2]: duplicate event type "pat.revoked"`,
		}},
		{"ssf timeout is bounded", func(c *Config) { c.Events.SSF.Timeout = Duration(6 * 60e9) }, []string{"events.ssf.timeout: must be at most 5m"}},

		{"smtp is valid", mailOn, nil},
		{"smtp without auth is valid", func(c *Config) { mailOn(c); c.SMTP.Username, c.SMTP.Password = "", "" }, nil},
		{"smtp none to loopback is valid", func(c *Config) { mailOn(c); c.SMTP.Host, c.SMTP.TLS = "127.0.0.1", "none" }, nil},
		{"smtp none beyond this machine", func(c *Config) { mailOn(c); c.SMTP.TLS = "none" }, []string{
			"smtp.tls: none is allowed only with a loopback smtp.host (127.0.0.1, ::1, localhost): mail and the password would cross the network in clear",
		}},
		{"smtp tls mode", func(c *Config) { mailOn(c); c.SMTP.TLS = "ssl" }, []string{`smtp.tls: must be starttls, tls or none, got "ssl"`}},
		{"smtp keys without a host", func(c *Config) { mailOn(c); c.SMTP.Host = "" }, []string{
			"smtp.port: set without smtp.host, which turns mail on: set smtp.host too, or remove it",
			"smtp.username: set without smtp.host, which turns mail on: set smtp.host too, or remove it",
			"smtp.password: set without smtp.host, which turns mail on: set smtp.host too, or remove it",
			"smtp.from: set without smtp.host, which turns mail on: set smtp.host too, or remove it",
		}},
		{"smtp host, port, from", func(c *Config) {
			mailOn(c)
			c.SMTP.Host, c.SMTP.Port, c.SMTP.From = "smtp.example.com:25", 70000, "not an address"
		}, []string{
			"smtp.host: must be a host name or IP address, without a port (set smtp.port)",
			"smtp.port: must be a number from 1 to 65535",
			`smtp.from: must be an e-mail address, such as noreply@example.com or "authserver <noreply@example.com>"`,
		}},
		{"smtp from is required", func(c *Config) { mailOn(c); c.SMTP.From = "" }, []string{"smtp.from: must not be empty: the sender address of every notice"}},
		{"smtp password without username", func(c *Config) { mailOn(c); c.SMTP.Username = "" }, []string{"smtp.username: must be set together with smtp.password"}},
		{"smtp username without password", func(c *Config) { mailOn(c); c.SMTP.Password = "" }, []string{
			"smtp.password: must be set together with smtp.username (or smtp.password_file, AUTHSERVER_SMTP_PASSWORD)",
		}},
		{"smtp timeout", func(c *Config) { c.SMTP.Timeout = 0 }, []string{"smtp.timeout: must be positive"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validBase(t)
			tt.change(c)
			err := c.Validate()
			if tt.want == nil {
				checkNoLeak(t, err)
				if err != nil {
					t.Fatalf("want valid, got:\n%v", err)
				}
				return
			}
			wantProblems(t, err, tt.want...)
		})
	}
}

func TestSMTPAndSSFSecretsFromFilesAndEnvironment(t *testing.T) {
	pw := writeFile(t, "smtp-password", canary+"-mail\n")
	auth := writeFile(t, "authorization", "Bearer "+canary+"\n")
	c, err := loadYAML(t, `
events:
  ssf:
    receivers:
      - name: siem
        url: https://siem.example.com/events
        audience: siem
        authorization_file: `+auth+`
smtp:
  host: smtp.example.com
  username: authserver
  from: noreply@example.com
`, MapEnv{"AUTHSERVER_SMTP_PASSWORD_FILE": pw, "AUTHSERVER_SMTP_TLS": "tls"})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.SMTP.Password.Reveal(); got != canary+"-mail" {
		t.Errorf("smtp password: got %q", got)
	}
	if got := c.Events.SSF.Receivers[0].Authorization.Reveal(); got != "Bearer "+canary {
		t.Errorf("authorization: got %q", got)
	}
	if c.SMTP.Port != 465 {
		t.Errorf("smtp port with tls: got %d, want the default 465", c.SMTP.Port)
	}

	c, err = loadYAML(t, "smtp:\n  host: smtp.example.com\n  username: u\n  from: a@example.com\n",
		MapEnv{"AUTHSERVER_SMTP_PASSWORD": canary})
	if err != nil {
		t.Fatal(err)
	}
	if c.SMTP.Password.Reveal() != canary || c.SMTP.Port != 587 || c.SMTP.TLS != "starttls" {
		t.Errorf("smtp from the environment: port %d, tls %s", c.SMTP.Port, c.SMTP.TLS)
	}

	_, err = loadYAML(t, "smtp:\n  host: smtp.example.com\n  username: u\n  from: a@example.com\n  password: x\n  password_file: "+pw+"\n", nil)
	wantProblem(t, err, "smtp.password_file: set together with smtp.password: use one or the other")
}
