package authserver_test

import (
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"authserver/exchange"
	"authserver/internal/storetest"
)

// TestOracleTiming measures, against a real server (HTTP over loopback, a
// real database), how long the token endpoint takes to refuse a PAT for
// each unusable cause (and a chained exchange whose root PAT is revoked,
// or whose client is not a delegate), so that SECURITY.md can say whether the time tells
// the causes apart. It is a measurement, not an assertion: it only runs
// with AUTHSERVER_ORACLE_CHECK=1 and prints a table.
//
//	AUTHSERVER_ORACLE_CHECK=1 [AUTHSERVER_ORACLE_N=3000] go test -run TestOracleTiming -v ./authserver/
//
// Requests of every cause are interleaved, in a new random order every
// round, so that drift (caches warming, the audit queue, the machine's
// load) spreads over all causes alike. It also times two other answers that must not depend on
// what exists: revoke-by-value of an unknown value and of another
// organization's PAT (both 404), and leaked-token reports of fake and of
// real values (both 202).
func TestOracleTiming(t *testing.T) {
	if os.Getenv("AUTHSERVER_ORACLE_CHECK") != "1" {
		t.Skip("a measurement: set AUTHSERVER_ORACLE_CHECK=1 to run it")
	}
	n := 3000
	if v, err := strconv.Atoi(os.Getenv("AUTHSERVER_ORACLE_N")); err == nil && v > 0 {
		n = v
	}
	storetest.Each(t, func(t *testing.T, driver string) {
		e := newChainEnv(t, driver, envOptions{})
		scopes := []string{"OR.Jobs"}
		granted, _ := e.pat(patSpec{org: "acme", user: "alice", scopes: scopes})
		u := e.unusablePATs()
		unknown := u.unknown

		type probe struct {
			name string
			want int
			send func() *response
		}
		exchangeProbe := func(name string, tok string, want int) probe {
			return probe{name, want, func() *response { return e.exchange(tok, url.Values{"audience": {"orchestrator"}}) }}
		}
		probes := []probe{
			exchangeProbe("granted (reference)", granted, 200),
			exchangeProbe(string(exchange.CauseUnknown), unknown, 400),
			exchangeProbe(string(exchange.CauseRevoked), u.revoked, 400),
			exchangeProbe(string(exchange.CauseExpired), u.expired, 400),
			exchangeProbe(string(exchange.CauseMaxLifetime), u.tooOld, 400),
			exchangeProbe(string(exchange.CauseOrgDisabled), u.orgDisabled, 400),
			exchangeProbe(string(exchange.CauseUserDeactivated), u.deactivated, 400),
			exchangeProbe(string(exchange.CauseNonLocal), u.directory, 400),
			exchangeProbe(string(exchange.CauseReused), u.reused, 400),
			exchangeProbe(string(exchange.CauseNetwork), u.outside, 400),
			exchangeProbe(string(exchange.CauseMalformed)+" (bad checksum)", u.badChecksum, 400),
			exchangeProbe(string(exchange.CauseMalformed)+" (not a PAT)", "hello", 400),
		}
		// Chained exchanges (docs/agents.md): the unusable root PAT must
		// look like any other chained refusal.
		chainProbe := func(name, subject string, want int) probe {
			return probe{name, want, func() *response { return e.chain("mcp-gateway", mcpGatewaySecret, subject, nil) }}
		}
		livePAT, _ := e.delegatedPAT("mcp-gateway")
		revokedPAT, revoked := e.delegatedPAT("mcp-gateway")
		undelegatedPAT, _ := e.delegatedPAT()
		live, revokedRoot, undelegated := e.agentToken(livePAT), e.agentToken(revokedPAT), e.agentToken(undelegatedPAT)
		if _, err := e.store.RevokePAT(ctx, revoked.OrgID, revoked.ID, time.Now(), "owner"); err != nil {
			t.Fatal(err)
		}
		probes = append(probes,
			chainProbe("chained: granted (reference)", live, 200),
			chainProbe("chained: "+string(exchange.CauseRevoked)+" root PAT", revokedRoot, 400),
			chainProbe("chained: "+string(exchange.CauseNotDelegate), undelegated, 400))
		admin := e.apiToken("acme", "alice", exchange.ScopePATs, exchange.ScopeAdmin)
		// A real globex PAT whose value acme's admin presents.
		globexOtherTok, _ := e.pat(patSpec{org: "globex", user: "eve", scopes: scopes})
		byValue := func(name, value string) probe {
			return probe{name, 404, func() *response {
				return e.call("POST", "/api/v1/admin/pats/revoke-by-value", admin, map[string]string{"token": value})
			}}
		}
		probes = append(probes,
			byValue("revoke-by-value: unknown", unknown),
			byValue("revoke-by-value: another organization's PAT", globexOtherTok))

		times := make([][]time.Duration, len(probes))
		for i := -200; i < n; i++ { // 200 rounds of warm-up
			// A new order every round, so that what a request follows (a
			// granted exchange's signing, an audit write) weighs on every
			// cause alike.
			for _, j := range mrand.Perm(len(probes)) {
				p := probes[j]
				start := time.Now()
				r := p.send()
				d := time.Since(start)
				if r.StatusCode != p.want {
					t.Fatalf("%s: %d %s", p.name, r.StatusCode, r.body)
				}
				if i >= 0 {
					times[j] = append(times[j], d)
				}
			}
		}

		// Leaked-token reports: fake values, then real ones (fresh PATs for
		// every report, so that each one has work to do).
		const reports, perReport = 300, 10
		var fake, real [][]string
		for range reports {
			var f, r []string
			for range perReport {
				v, _ := exchange.NewPAT("pat_", nil)
				f = append(f, v)
				tok, _ := e.pat(patSpec{org: "acme", user: "carol", scopes: scopes})
				r = append(r, tok)
			}
			fake, real = append(fake, f), append(real, r)
		}
		processed := 0
		// waitProcessed waits for the worker to log one more report, so
		// that its work never weighs on the next answer.
		waitProcessed := func() {
			processed++
			for deadline := time.Now().Add(10 * time.Second); strings.Count(e.logs.String(), `"msg":"leaked tokens reported"`) < processed; time.Sleep(time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("a report was not processed")
				}
			}
		}
		var leakFake, leakReal []time.Duration
		for i := range reports {
			for k, batch := range [][]string{fake[i], real[i]} {
				start := time.Now()
				r := e.call("POST", "/api/v1/leaked-tokens", "", map[string]any{"tokens": batch})
				d := time.Since(start)
				if r.StatusCode != http.StatusAccepted {
					t.Fatalf("leaked tokens: %d %s", r.StatusCode, r.body)
				}
				if k == 0 {
					leakFake = append(leakFake, d)
				} else {
					leakReal = append(leakReal, d)
				}
				waitProcessed()
			}
		}

		// The server's own view: the access log's duration of each report,
		// in the order sent (fake, real, fake, …).
		var srvFake, srvReal []time.Duration
		for _, line := range strings.Split(e.logs.String(), "\n") {
			if !strings.Contains(line, `"msg":"http request"`) || !strings.Contains(line, `"route":"POST /api/v1/leaked-tokens"`) {
				continue
			}
			var rec struct {
				DurationMS float64 `json:"duration_ms"`
			}
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Fatal(err)
			}
			d := time.Duration(rec.DurationMS * float64(time.Millisecond))
			if len(srvFake) == len(srvReal) {
				srvFake = append(srvFake, d)
			} else {
				srvReal = append(srvReal, d)
			}
		}

		var out strings.Builder
		fmt.Fprintf(&out, "\n%s, %d requests per row (interleaved in random order), µs:\n\n", driver, n)
		fmt.Fprintf(&out, "| answer | median | p90 | p99 | mean |\n| --- | ---: | ---: | ---: | ---: |\n")
		for j, p := range probes {
			fmt.Fprintln(&out, row(p.name, times[j]))
		}
		fmt.Fprintln(&out, row(fmt.Sprintf("leaked-tokens: %d fake values (%d reports)", perReport, reports), leakFake))
		fmt.Fprintln(&out, row(fmt.Sprintf("leaked-tokens: %d real values (%d reports)", perReport, reports), leakReal))
		fmt.Fprintln(&out, row("leaked-tokens, server side (access log): fake values", srvFake))
		fmt.Fprintln(&out, row("leaked-tokens, server side (access log): real values", srvReal))
		fmt.Print(out.String())
	})
}

// row renders one line of the timing table.
func row(name string, ds []time.Duration) string {
	s := slices.Clone(ds)
	slices.Sort(s)
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	us := func(d time.Duration) string { return strconv.FormatFloat(float64(d.Nanoseconds())/1e3, 'f', 0, 64) }
	q := func(f float64) time.Duration { return s[min(len(s)-1, int(f*float64(len(s))))] }
	return fmt.Sprintf("| %s | %s | %s | %s | %s |", name, us(q(0.5)), us(q(0.9)), us(q(0.99)), us(sum/time.Duration(len(s))))
}
