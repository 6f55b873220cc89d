package config

import (
	"strings"
	"time"

	"authserver/internal/rfc8693"
)

// Defaults returns the configuration used when nothing is configured: SQLite
// in authserver.db, serving http on 127.0.0.1:8080. It is the one place
// defaults live, together with complete, which fills the defaults that
// depend on other values or sit inside bootstrap lists. Issuer is empty
// here: Load derives it from http.addr after every override.
func Defaults() Config {
	return Config{
		HTTP:      HTTP{Addr: "127.0.0.1:8080"},
		Telemetry: Telemetry{Addr: "127.0.0.1:9464"},
		Database:  Database{Driver: driverSQLite, DSN: "authserver.db", QueryTimeout: Duration(2 * time.Second)},
		Keys: Keys{
			Algorithm:      "ES256",
			RotationPeriod: Duration(30 * day),
			PublishAhead:   Duration(time.Hour),
		},
		Tokens: Tokens{
			PATPrefix:          "pat_",
			AccessTokenTTL:     Duration(5 * time.Minute),
			DPoPProofWindow:    Duration(time.Minute),
			MaxDelegationDepth: 2,
		},
		Log: Log{Level: "info", Format: "auto"},
		Console: Console{
			SessionIdleTimeout:     Duration(30 * time.Minute),
			SessionAbsoluteTimeout: Duration(12 * time.Hour),
		},
		Events: Events{
			Delivery: Delivery{
				Interval:   Duration(time.Second),
				Lease:      Duration(time.Minute),
				RetryFor:   Duration(72 * time.Hour),
				MinBackoff: Duration(5 * time.Second),
				MaxBackoff: Duration(time.Hour),
				Retention:  Duration(7 * day),
			},
			SSF: SSF{Timeout: Duration(10 * time.Second)},
		},
		SMTP: SMTP{TLS: SMTPStartTLS, Timeout: Duration(10 * time.Second)},
	}
}

// complete fills what Defaults cannot: values derived from others and the
// defaults of bootstrap list elements. It runs after the file, the
// environment and the …_file secrets, and reports whether it derived the
// issuer, so that validation can say why a derived issuer is unusable.
func (c *Config) complete() (issuerDerived bool) {
	// The DSN default applies only when neither database.dsn nor
	// database.dsn_file was given; Load starts with it empty for that reason.
	if c.Database.DSN == "" && c.Database.DSNFile == "" {
		c.Database.DSN = Defaults().Database.DSN
	}
	for i := range c.Bootstrap.Audiences {
		a := &c.Bootstrap.Audiences[i]
		if a.Name == "" {
			a.Name = a.ID // a display name is optional; the id reads well enough
		}
	}
	for i := range c.Bootstrap.Clients {
		cl := &c.Bootstrap.Clients[i]
		// nil is "omitted"; an explicit [] stays empty (introspection only).
		if cl.GrantTypes == nil {
			cl.GrantTypes = []string{rfc8693.GrantType}
		}
		// Lower-case hex, so consumers can compare strings.
		cl.SecretSHA256 = strings.ToLower(cl.SecretSHA256)
		if cl.DPoP == "" {
			cl.DPoP = DPoPOptional
		}
	}
	for i := range c.Bootstrap.Organizations {
		o := &c.Bootstrap.Organizations[i]
		if o.PATsEnabled == nil {
			enabled := true
			o.PATsEnabled = &enabled
		}
		for j := range o.Users {
			if o.Users[j].Kind == "" {
				o.Users[j].Kind = kindLocal
			}
		}
	}
	if c.SMTP.Host != "" && c.SMTP.Port == 0 {
		c.SMTP.Port = map[string]int{SMTPStartTLS: 587, SMTPImplicitTLS: 465, SMTPNoTLS: 25}[c.SMTP.TLS]
	}
	if c.Issuer == "" {
		scheme := "http://"
		if c.HTTP.TLSCertFile != "" && c.HTTP.TLSKeyFile != "" {
			scheme = "https://"
		}
		c.Issuer = scheme + c.HTTP.Addr
		return true
	}
	return false
}
