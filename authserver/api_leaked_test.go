package authserver_test

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"authserver/exchange"
	"authserver/internal/storetest"
	"authserver/storage"
)

// TestLeakedTokens: POST /api/v1/leaked-tokens revokes every real, active
// PAT among the reported values, in any organization, audits it as
// reported leaked, and answers 202 {} whatever the values were.
func TestLeakedTokens(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		e := newEnv(t, envOptions{driver: driver, noRateLimits: true})

		t.Run("real active PATs among the values are revoked and audited, in every organization", func(t *testing.T) {
			acmeTok, acmePAT := e.pat(patSpec{org: "acme", user: "carol", scopes: []string{"OR.Jobs"}})
			globexTok, globexPAT := e.pat(patSpec{org: "globex", user: "eve", scopes: []string{"OR.Jobs"}})
			bystanderTok, bystander := e.pat(patSpec{org: "acme", user: "carol", scopes: []string{"OR.Jobs"}})
			unknown, _ := exchange.NewPAT("pat_", nil)
			before := metricValue(t, e, `authserver_pat_events_total{event="revoked_leaked"}`)

			// The real ones last: once they are revoked, the report is done.
			r := e.call("POST", "/api/v1/leaked-tokens", "", map[string]any{"tokens": []string{
				unknown, "not a token", acmeTok[:len(acmeTok)-1] + flip(acmeTok[len(acmeTok)-1]), "", acmeTok, globexTok, acmeTok,
			}})
			wantLeakedAccepted(t, r)
			waitRevoked(t, e, acmePAT)
			waitRevoked(t, e, globexPAT)

			if e.exchangeOK(acmeTok) || e.exchangeOK(globexTok) {
				t.Fatal("a reported token still works")
			}
			if !e.exchangeOK(bystanderTok) {
				t.Fatal("a PAT that was not reported was revoked")
			}
			if got, _ := e.store.GetPAT(ctx, bystander.OrgID, bystander.ID); got.RevokedAt != nil {
				t.Fatal("the bystander was revoked")
			}
			for _, p := range []*storage.PAT{acmePAT, globexPAT} {
				got, err := e.store.GetPAT(ctx, p.OrgID, p.ID)
				if err != nil || got.RevokedReason != "leaked" {
					t.Fatalf("revoked reason %q (%v), want leaked", got.RevokedReason, err)
				}
				events, err := e.store.ListAudit(ctx, storage.AuditFilter{OrgID: p.OrgID, Action: "pat.revoke", Target: p.ID})
				if err != nil || len(events) != 1 {
					t.Fatalf("audit events of %s: %v %v", p.ID, events, err)
				}
				ev := events[0]
				if ev.Actor != "anonymous" || ev.ClientAddr != "127.0.0.1" || ev.Detail != "reported leaked" || ev.Outcome != "success" {
					t.Fatalf("audit event %+v", ev)
				}
			}
			if after := metricValue(t, e, `authserver_pat_events_total{event="revoked_leaked"}`); after != before+2 {
				t.Fatalf("revoked_leaked %v → %v, want +2", before, after)
			}
			logs := e.logs.String()
			for _, tok := range []string{acmeTok, globexTok, unknown} {
				if strings.Contains(logs, tok) {
					t.Fatal("a reported value reached the log")
				}
			}
		})

		t.Run("the answer is the same whether no value or every value is real", func(t *testing.T) {
			var real, fake []string
			for range 20 {
				tok, _ := e.pat(patSpec{org: "acme", user: "alice", scopes: []string{"OR.Jobs"}})
				real = append(real, tok)
				f, _ := exchange.NewPAT("pat_", nil)
				fake = append(fake, f)
			}
			a := e.call("POST", "/api/v1/leaked-tokens", "", map[string]any{"tokens": fake})
			b := e.call("POST", "/api/v1/leaked-tokens", "", map[string]any{"tokens": real})
			c := e.call("POST", "/api/v1/leaked-tokens", "", map[string]any{"tokens": []string{}})
			for _, r := range []*response{a, b, c} {
				wantLeakedAccepted(t, r)
				if !sameHeaders(r.Header, a.Header) {
					t.Fatalf("headers differ: %v and %v", r.Header, a.Header)
				}
			}
		})

		t.Run("already revoked and expired PATs stay as they are", func(t *testing.T) {
			now := time.Now()
			revokedTok, revoked := e.pat(patSpec{org: "acme", user: "bob", scopes: []string{"OR.Jobs"}})
			at := now.Add(-time.Hour).UTC().Truncate(time.Second)
			if _, err := e.store.RevokePAT(ctx, revoked.OrgID, revoked.ID, at, "owner"); err != nil {
				t.Fatal(err)
			}
			expiredTok, expired := e.pat(patSpec{org: "acme", user: "bob", scopes: []string{"OR.Jobs"},
				created: now.Add(-2 * time.Hour), expires: ptr(now.Add(-time.Hour))})
			marker, markerPAT := e.pat(patSpec{org: "acme", user: "bob", scopes: []string{"OR.Jobs"}})
			wantLeakedAccepted(t, e.call("POST", "/api/v1/leaked-tokens", "", map[string]any{"tokens": []string{revokedTok, expiredTok, marker}}))
			waitRevoked(t, e, markerPAT)
			if got, _ := e.store.GetPAT(ctx, revoked.OrgID, revoked.ID); !got.RevokedAt.Equal(at) || got.RevokedReason != "owner" {
				t.Fatalf("the revoked PAT changed: %v %q", got.RevokedAt, got.RevokedReason)
			}
			// An expired PAT is revoked too: it is no longer usable either
			// way, and revoking it records that it leaked.
			if got, _ := e.store.GetPAT(ctx, expired.OrgID, expired.ID); got.RevokedReason != "leaked" {
				t.Fatalf("the expired PAT: revoked %v reason %q", got.RevokedAt, got.RevokedReason)
			}
		})

		t.Run("credentials are neither needed nor looked at", func(t *testing.T) {
			tok, p := e.pat(patSpec{org: "acme", user: "carol", scopes: []string{"OR.Jobs"}})
			wantLeakedAccepted(t, e.call("POST", "/api/v1/leaked-tokens", "not-a-valid-token", map[string]any{"tokens": []string{tok}}))
			waitRevoked(t, e, p)
		})

		t.Run("bad requests are the API's problems and revoke nothing", func(t *testing.T) {
			tok, p := e.pat(patSpec{org: "acme", user: "carol", scopes: []string{"OR.Jobs"}})
			many := make([]string, 101)
			for i := range many {
				many[i] = tok
			}
			cases := []struct {
				name, contentType, body string
				status                  int
				code, field             string
			}{
				{"101 values", "application/json", snapshot(t, map[string]any{"tokens": many}), 400, "too-many-tokens", "tokens"},
				{"no tokens member", "application/json", `{}`, 400, "invalid-field", "tokens"},
				{"tokens null", "application/json", `{"tokens": null}`, 400, "invalid-field", "tokens"},
				{"tokens not an array", "application/json", `{"tokens": "` + tok + `"}`, 400, "wrong-type", "tokens"},
				{"a value not a string", "application/json", `{"tokens": ["` + tok + `", 7]}`, 400, "wrong-type", "tokens"},
				{"an unknown member", "application/json", `{"tokens": ["` + tok + `"], "token": "x"}`, 400, "unknown-field", ""},
				{"malformed JSON", "application/json", `{"tokens": ["` + tok + `"]`, 400, "malformed-json", ""},
				{"trailing data", "application/json", `{"tokens": ["` + tok + `"]} x`, 400, "trailing-data", ""},
				{"an empty body", "application/json", ``, 400, "body-required", ""},
				{"a form", "application/x-www-form-urlencoded", `tokens=` + tok, 415, "unsupported-media-type", ""},
				{"a body over 64 KiB", "application/json", `{"tokens": ["` + tok + `"], "pad": "` + strings.Repeat("a", 64<<10) + `"}`, 413, "body-too-large", ""},
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					wantProblem(t, e.send("POST", "/api/v1/leaked-tokens", "", c.contentType, []byte(c.body)), c.status, c.code, c.field)
				})
			}
			wantProblem(t, e.call("POST", "/api/v1/leaked-tokens?x=1", "", map[string]any{"tokens": []string{tok}}), 400, "invalid-parameter", "")
			// A last, good report proves the bad ones were not queued: it
			// is processed after them, and the PAT was still active.
			marker, markerPAT := e.pat(patSpec{org: "acme", user: "carol", scopes: []string{"OR.Jobs"}})
			wantLeakedAccepted(t, e.call("POST", "/api/v1/leaked-tokens", "", map[string]any{"tokens": []string{marker}}))
			waitRevoked(t, e, markerPAT)
			if got, _ := e.store.GetPAT(ctx, p.OrgID, p.ID); got.RevokedAt != nil {
				t.Fatal("a refused report revoked a PAT")
			}
		})
	})

	t.Run("rate-limited per client address", func(t *testing.T) {
		clock := &fakeClock{t: time.Now()}
		e := newEnv(t, envOptions{now: clock.now})
		body := map[string]any{"tokens": []string{"x"}}
		for i := range 10 {
			if r := e.call("POST", "/api/v1/leaked-tokens", "", body); r.StatusCode != http.StatusAccepted {
				t.Fatalf("report %d: %d %s", i+1, r.StatusCode, r.body)
			}
		}
		r := e.call("POST", "/api/v1/leaked-tokens", "", body)
		wantProblem(t, r, http.StatusTooManyRequests, "rate-limited", "")
		if retry, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || retry < 1 || retry > 6 {
			t.Fatalf("Retry-After %q", r.Header.Get("Retry-After"))
		}
		clock.advance(6 * time.Second)
		wantLeakedAccepted(t, e.call("POST", "/api/v1/leaked-tokens", "", body))
	})
}

// wantLeakedAccepted fails unless r is the leaked-token route's one answer:
// 202 with exactly {}.
func wantLeakedAccepted(t *testing.T, r *response) {
	t.Helper()
	if r.StatusCode != http.StatusAccepted || strings.TrimSpace(string(r.body)) != "{}" ||
		r.Header.Get("Content-Type") != "application/json" || r.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("answer %d %v %q, want 202 {}", r.StatusCode, r.Header, r.body)
	}
}

// waitRevoked waits until the leaked-token worker has revoked p.
func waitRevoked(t *testing.T, e *env, p *storage.PAT) {
	t.Helper()
	waitFor(t, "the revocation of PAT "+p.ID, func() bool {
		got, err := e.store.GetPAT(ctx, p.OrgID, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got.RevokedAt != nil
	})
}

// sameHeaders compares two answers' headers but for those that differ by
// request (Date, X-Request-Id).
func sameHeaders(a, b http.Header) bool {
	norm := func(h http.Header) string {
		c := h.Clone()
		c.Del("Date")
		c.Del("X-Request-Id")
		return fmt.Sprint(c)
	}
	return norm(a) == norm(b)
}
