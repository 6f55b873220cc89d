package authserver

import (
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"authserver/exchange"
	"authserver/governance"
)

// metrics are the server's Prometheus metrics. Every label is bounded: a
// result, a cause, a handler or a status code — never a user, an
// organization, a client or a token.
type metrics struct {
	exchanges        *prometheus.CounterVec
	refusals         *prometheus.CounterVec
	exchangeDuration prometheus.Histogram
	introspections   *prometheus.CounterVec
	revocations      *prometheus.CounterVec
	patEvents        *prometheus.CounterVec
}

// exchangeResults are the values of the result label: granted, or the
// RFC error the exchange was answered with.
var exchangeResults = []string{
	"granted", "invalid_request", "invalid_client", "invalid_grant", "unauthorized_client",
	"unsupported_grant_type", "invalid_scope", "invalid_target", "temporarily_unavailable",
	"server_error", "request_too_large", "rate_limited",
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		exchanges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authserver_token_exchanges_total",
			Help: "Token-exchange requests by result: granted, or the RFC 6749/8693 error returned.",
		}, []string{"result"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authserver_token_exchange_refusals_total",
			Help: "Refused token exchanges by precise cause (never sent to clients).",
		}, []string{"cause"}),
		exchangeDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "authserver_token_exchange_duration_seconds",
			Help:    "Time to answer a token-exchange request, from the first byte read to the response written.",
			Buckets: []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1},
		}),
	}
	m.introspections = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "authserver_introspections_total",
		Help: "Introspection requests by result: active, inactive, or the RFC 6749 error returned.",
	}, []string{"result"})
	m.revocations = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "authserver_revocations_total",
		Help: "Revocation requests by result: revoked, already_revoked, not_found, or the RFC 6749/7009 error returned.",
	}, []string{"result"})
	reg.MustRegister(m.exchanges, m.refusals, m.exchangeDuration, m.introspections, m.revocations)
	for _, r := range introspectionResults {
		m.introspections.WithLabelValues(r)
	}
	for _, r := range revocationResults {
		m.revocations.WithLabelValues(r)
	}
	m.patEvents = newPATEventsCounter(reg)
	for _, r := range exchangeResults {
		m.exchanges.WithLabelValues(r)
	}
	for _, c := range exchange.Causes() {
		m.refusals.WithLabelValues(string(c))
	}
	return m
}

// patEventNames are the values of authserver_pat_events_total's event
// label: the lifecycle events governance.Events reports. Anything else is
// counted as "other", so the label stays bounded whatever a caller sends.
var patEventNames = []string{
	"created", "regenerated", "revoked_owner", "revoked_admin", "revoked_value", "revoked_holder", "revoked_leaked",
}

func newPATEventsCounter(reg prometheus.Registerer) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "authserver_pat_events_total",
		Help: "PAT lifecycle events: created, regenerated, revoked_owner, revoked_admin, revoked_value, revoked_holder, revoked_leaked.",
	}, []string{"event"})
	reg.MustRegister(c)
	for _, e := range patEventNames {
		c.WithLabelValues(e)
	}
	return c
}

var _ governance.Events = (*metrics)(nil)

// PATEvent counts one PAT lifecycle event (governance.Events).
func (m *metrics) PATEvent(event string) {
	if !slices.Contains(patEventNames, event) {
		event = "other"
	}
	m.patEvents.WithLabelValues(event).Inc()
}
