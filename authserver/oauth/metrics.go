package oauth

import (
	"github.com/prometheus/client_golang/prometheus"

	"authserver/authserver/dpop"
	"authserver/authserver/telemetry"
	"authserver/exchange"
)

// oauthMetrics are the metrics of the OAuth endpoints. Every label is
// bounded: a result or a cause, never a client or a token.
type oauthMetrics struct {
	exchanges *prometheus.CounterVec
	// exchangeResult are exchanges' series by subject and result, resolved once.
	exchangeResult   map[[2]string]prometheus.Counter
	refusals         *prometheus.CounterVec
	exchangeDuration prometheus.Histogram
	introspections   *prometheus.CounterVec
	revocations      *prometheus.CounterVec
}

// exchangeSubjects are the values of the subject label: a PAT's exchange,
// or a chained one (an access token of this server as subject_token). A
// request is counted by the form of its subject_token alone, so a request
// without one counts as pat.
var exchangeSubjects = []string{subjectPAT, subjectJWT}

const (
	subjectPAT = "pat"
	subjectJWT = "jwt"
)

// exchangeSubject is the subject label of a subject_token.
func exchangeSubject(token string) string {
	if exchange.IsJWT(token) {
		return subjectJWT
	}
	return subjectPAT
}

// exchangeResults are the values of the result label: granted, or the
// RFC error the exchange was answered with.
var exchangeResults = []string{
	"granted", "invalid_request", "invalid_client", "invalid_grant", "unauthorized_client",
	"unsupported_grant_type", "invalid_scope", errInvalidTarget.ErrorField, "temporarily_unavailable",
	"server_error", "request_too_large", "rate_limited", dpop.CodeInvalidProof, dpop.CodeUseNonce,
}

func newOAuthMetrics(reg prometheus.Registerer) *oauthMetrics {
	m := &oauthMetrics{
		exchanges: newCounter2(reg, prometheus.CounterOpts{
			Name: "authserver_token_exchanges_total",
			Help: "Token-exchange requests by subject (pat, or jwt for a chained exchange) and result: granted, or the RFC 6749/8693 error returned.",
		}, "subject", exchangeSubjects, "result", exchangeResults),
		refusals: newCounter2(reg, prometheus.CounterOpts{
			Name: "authserver_token_exchange_refusals_total",
			Help: "Refused token exchanges by subject (pat, or jwt for a chained exchange) and precise cause (never sent to clients).",
		}, "subject", exchangeSubjects, "cause", exchange.Causes()),
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
	m.exchangeResult = make(map[[2]string]prometheus.Counter, len(exchangeSubjects)*len(exchangeResults))
	for _, sub := range exchangeSubjects {
		for _, r := range exchangeResults {
			m.exchangeResult[[2]string{sub, r}] = m.exchanges.WithLabelValues(sub, r)
		}
	}
	return m
}

// newCounter2 registers a counter with two bounded labels and creates
// every pair of values, so that every series exists from the start.
func newCounter2[V ~string](reg prometheus.Registerer, opts prometheus.CounterOpts, label1 string, values1 []string,
	label2 string, values2 []V) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(opts, []string{label1, label2})
	reg.MustRegister(c)
	for _, v1 := range values1 {
		for _, v2 := range values2 {
			c.WithLabelValues(v1, string(v2))
		}
	}
	return c
}

// exchanged counts one token-endpoint request by subject and result.
func (m *oauthMetrics) exchanged(subject, result string) {
	if c, ok := m.exchangeResult[[2]string{subject, result}]; ok {
		c.Inc()
		return
	}
	m.exchanges.WithLabelValues(subject, result).Inc()
}
