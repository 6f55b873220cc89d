package outbox

import "github.com/prometheus/client_golang/prometheus"

// The values of the result label of authserver_outbox_deliveries_total.
const (
	ResultDelivered = "delivered"
	ResultRetry     = "retry"
	ResultGaveUp    = "gave_up"
	// ResultDropped: the destination was removed before delivery.
	ResultDropped = "dropped"
)

// Metrics are the outbox's metrics. The queue gauges are read from the
// database, so every replica reports the same values (alerts take the
// max); the counter counts this replica's attempts.
type Metrics struct {
	// Deliveries counts attempts by sink kind and result.
	Deliveries *prometheus.CounterVec
	// Queue counts the work waiting, by stage: fan_out (events not fanned
	// out yet) and delivery (deliveries neither delivered nor given up).
	Queue *prometheus.GaugeVec
	// OldestAge is the age of the oldest event still on its way.
	OldestAge prometheus.Gauge
}

// NewMetrics creates the outbox metrics and registers them with reg
// (when not nil).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authserver_outbox_deliveries_total",
			Help: "Delivery attempts of lifecycle events by sink kind and result: delivered, retry (failed, tried again later), gave_up (refused for good, or out of retry time) or dropped (the destination was removed).",
		}, []string{"sink", "result"}),
		Queue: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "authserver_outbox_queue_depth",
			Help: "Lifecycle events waiting, by stage: fan_out (events not fanned out yet), delivery (deliveries neither delivered nor given up).",
		}, []string{"stage"}),
		OldestAge: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "authserver_outbox_oldest_age_seconds",
			Help: "Age of the oldest lifecycle event not yet fanned out or delivered everywhere (0 when none waits).",
		}),
	}
	// The series exist from the start, so that rates and alerts see them.
	m.Queue.WithLabelValues("fan_out")
	m.Queue.WithLabelValues("delivery")
	if reg != nil {
		reg.MustRegister(m.Deliveries, m.Queue, m.OldestAge)
	}
	return m
}
