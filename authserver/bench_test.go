package authserver_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"authserver/internal/rfc8693"
	"authserver/internal/storetest"
)

// BenchmarkExchange is the whole token endpoint — form checks, fosite,
// client authentication, the one database read, the rights computation,
// signing and the JSON answer — called in process (no network), with a
// random one of 1 000 PATs per request, on both databases.
func BenchmarkExchange(b *testing.B) {
	for _, driver := range storetest.Drivers {
		b.Run(driver, func(b *testing.B) {
			e := newEnv(b, envOptions{driver: driver})
			const n = 1000
			bodies := make([]string, n)
			users := []string{"alice", "carol"}
			for i := range n {
				tok, _ := e.pat(patSpec{org: "acme", user: users[i%2], scopes: []string{"OR.Jobs", "OR.Folders", "OR.Execution.Read"}})
				bodies[i] = url.Values{
					"grant_type":         {rfc8693.GrantType},
					"subject_token":      {tok},
					"subject_token_type": {rfc8693.TokenTypeAccessToken},
					"client_id":          {"cli"},
					"audience":           {"orchestrator"},
				}.Encode()
			}
			h := e.srv.Handler()
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					req := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader(bodies[i%n]))
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, req)
					if rec.Code != http.StatusOK {
						b.Fatalf("exchange: %d %s", rec.Code, rec.Body)
					}
					i += 7
				}
			})
		})
	}
}
