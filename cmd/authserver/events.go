package main

import (
	"authserver/config"
	"authserver/outbox/mail"
	"authserver/outbox/ssf"
)

// sinkOptions turns events.ssf and smtp into the settings of the Shared
// Signals and e-mail sinks.
func sinkOptions(cfg *config.Config) (ssf.Config, mail.Config) {
	s := ssf.Config{Timeout: cfg.Events.SSF.Timeout.D()}
	for _, r := range cfg.Events.SSF.Receivers {
		s.Receivers = append(s.Receivers, ssf.Receiver{Name: r.Name, URL: r.URL, Audience: r.Audience,
			Authorization: r.Authorization.Reveal(), Events: r.Events})
	}
	m := cfg.SMTP
	return s, mail.Config{Host: m.Host, Port: m.Port, Username: m.Username, Password: m.Password.Reveal(), From: m.From,
		TLS: m.TLS, Timeout: m.Timeout.D()}
}
