package authserver

import (
	"net/http"

	"authserver/outbox"
	"authserver/outbox/mail"
	"authserver/outbox/ssf"
)

// eventSinks builds the Shared Signals and e-mail sinks of the lifecycle
// events from o.SSF and o.Mail. The Shared Signals sink is left out when
// no receiver is configured; the e-mail sink is always there and names no
// destination while no mail server is configured. The dispatcher delivers
// through these and its own webhook sink.
func eventSinks(o Options) ([]outbox.Sink, error) {
	var sinks []outbox.Sink
	if len(o.SSF.Receivers) > 0 {
		s, err := ssf.New(o.SSF, o.Keys, o.Issuer, nil)
		if err != nil {
			return nil, err
		}
		sinks = append(sinks, s)
	}
	m, err := mail.New(o.Mail, o.Store, o.Issuer)
	if err != nil {
		return nil, err
	}
	return append(sinks, m), nil
}

// mountEventMetadata serves the Shared Signals transmitter configuration
// when there is a receiver to transmit to.
func mountEventMetadata(mux *http.ServeMux, o Options) {
	if len(o.SSF.Receivers) > 0 {
		(&ssf.Metadata{Issuer: o.Issuer}).Mount(mux)
	}
}
