package oauth

import (
	"github.com/prometheus/client_golang/prometheus"

	"authserver/authserver/telemetry"
	"authserver/exchange"
)

// oauthMetrics are the metrics of the OAuth endpoints. Every label is
// bounded: a result or a cause, never a client or a token.
type oauthMetrics struct {
	exchanges *prometheus.CounterVec
	// exchangeResult are exchanges' series by result, resolved once.
	exchangeResult   map[string]prometheus.Counter
	refusals         *prometheus.CounterVec
	exchangeDuration prometheus.Histogram
	introspections   *prometheus.CounterVec
	revocations      *prometheus.CounterVec
}

// exchangeResults are the values of the result label: granted, or the
// RFC error the exchange was answered with.
var exchangeResults = []string{
	"granted", "invalid_request", "invalid_client", "invalid_grant", "unauthorized_client",
	"unsupported_grant_type", "invalid_scope", errInvalidTarget.ErrorField, "temporarily_unavailable",
	"server_error", "request_too_large", "rate_limited",
}

func newOAuthMetrics(reg prometheus.Registerer) *oauthMetrics {
	m := &oauthMetrics{
		exchanges: telemetry.NewLabelledCounter(reg, prometheus.CounterOpts{
			Name: "authserver_token_exchanges_total",
			Help: "Token-exchange requests by result: granted, or the RFC 6749/8693 error returned.",
		}, "result", exchangeResults),
		refusals: telemetry.NewLabelledCounter(reg, prometheus.CounterOpts{
			Name: "authserver_token_exchange_refusals_total",
			Help: "Refused token exchanges by precise cause (never sent to clients).",
		}, "cause", exchange.Causes()),
		exchangeDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "authserver_token_exchange_duration_seconds",
			Help:    "Time to answer a token-exchange request, from the first byte read to the response written.",
			Buckets: []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1},
		}),
		introspections: telemetry.NewLabelledCounter(reg, prometheus.CounterOpts{
			Name: "authserver_introspections_total",
			Help: "Introspection requests by result: active, inactive, or the RFC 6749 error returned.",
		}, "result", introspectionResults),
		revocations: telemetry.NewLabelledCounter(reg, prometheus.CounterOpts{
			Name: "authserver_revocations_total",
			Help: "Revocation requests by result: revoked, already_revoked, not_found, or the RFC 6749/7009 error returned.",
		}, "result", revocationResults),
	}
	reg.MustRegister(m.exchangeDuration)
	m.exchangeResult = make(map[string]prometheus.Counter, len(exchangeResults))
	for _, r := range exchangeResults {
		m.exchangeResult[r] = m.exchanges.WithLabelValues(r)
	}
	return m
}

// exchanged counts one token-endpoint request by result.
func (m *oauthMetrics) exchanged(result string) {
	if c, ok := m.exchangeResult[result]; ok {
		c.Inc()
		return
	}
	m.exchanges.WithLabelValues(result).Inc()
}
