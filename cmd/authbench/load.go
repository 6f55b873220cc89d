package main

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"authserver/internal/rfc8693"
)

// loadResult is what one attack measured from the client side.
type loadResult struct {
	Requests   uint64         `json:"requests"`
	Duration   time.Duration  `json:"duration_ns"`
	Throughput float64        `json:"exchanges_per_second"`
	P50        time.Duration  `json:"p50_ns"`
	P90        time.Duration  `json:"p90_ns"`
	P99        time.Duration  `json:"p99_ns"`
	Max        time.Duration  `json:"max_ns"`
	Errors     map[string]int `json:"errors"` // by HTTP status and OAuth error code
}

// exchangeBody is the form of one exchange of token.
func exchangeBody(token string) []byte {
	return []byte(url.Values{
		"grant_type":         {rfc8693.GrantType},
		"subject_token":      {token},
		"subject_token_type": {rfc8693.TokenTypeAccessToken},
		"client_id":          {clientID},
		"audience":           {audience},
	}.Encode())
}

// attack drives POST /oauth2/token with a random PAT per request from
// `concurrency` connections, as fast as the servers answer, for d. With
// several servers the requests go to each in turn.
func attack(ctx context.Context, bases []string, tokens []string, concurrency int, d time.Duration) *loadResult {
	header := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	var next atomic.Uint64
	targeter := func(t *vegeta.Target) error {
		t.Method = http.MethodPost
		t.URL = bases[next.Add(1)%uint64(len(bases))] + "/oauth2/token"
		t.Header = header
		t.Body = exchangeBody(tokens[rand.IntN(len(tokens))])
		return nil
	}
	c := uint64(concurrency)
	a := vegeta.NewAttacker(vegeta.Workers(c), vegeta.MaxWorkers(c), vegeta.Connections(concurrency),
		vegeta.MaxConnections(concurrency), vegeta.KeepAlive(true), vegeta.Timeout(10*time.Second), vegeta.MaxBody(8<<10))
	stop := context.AfterFunc(ctx, func() { a.Stop() })
	defer stop()
	var m vegeta.Metrics
	errs := map[string]int{}
	// Rate 0 with a fixed pool of workers: closed-loop load, each worker
	// sends its next request when the previous one is answered.
	for res := range a.Attack(vegeta.Targeter(targeter), vegeta.Rate{Freq: 0}, d, "exchange") {
		m.Add(res)
		if res.Code != http.StatusOK {
			key := strconv.Itoa(int(res.Code))
			var body struct {
				Error string `json:"error"`
			}
			if json.Unmarshal(res.Body, &body) == nil && body.Error != "" {
				key += " " + body.Error
			} else if res.Error != "" {
				key += " " + res.Error
			}
			errs[key]++
		}
	}
	m.Close()
	return &loadResult{
		Requests: m.Requests, Duration: m.Duration, Throughput: float64(m.Requests-uint64(sum(errs))) / m.Duration.Seconds(),
		P50: m.Latencies.P50, P90: m.Latencies.P90, P99: m.Latencies.P99, Max: m.Latencies.Max, Errors: errs,
	}
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
