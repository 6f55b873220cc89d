package governance_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"authserver/exchange"
	"authserver/governance"
	"authserver/internal/storetest"
	"authserver/internal/testenv"
	"authserver/storage"
)

// events records governance.Events.
type events struct {
	mu  sync.Mutex
	got []string
}

func (e *events) PATEvent(name string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.got = append(e.got, name)
}

func (e *events) all() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.got...)
}

// staleReads serves GetPATByHash from a copy taken before the PAT was
// revoked: what a holder revocation sees when another revocation lands
// between its read and its transaction.
type staleReads struct {
	storage.Store
	stale *storage.PAT
}

func (s staleReads) GetPATByHash(ctx context.Context, hash []byte) (*storage.PAT, error) {
	if bytes.Equal(hash, s.stale.Hash) {
		c := *s.stale
		return &c, nil
	}
	return s.Store.GetPATByHash(ctx, hash)
}

// TestRevokeByHolderRule is the holder-revocation rule: possession of the
// token is the authority, in any organization; the revocation is audited
// in its transaction and counted once, and only when this call made it.
func TestRevokeByHolderRule(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		f := newFixture(t, driver)
		holder := governance.Actor{Kind: governance.ActorClient, ClientID: "cli", Addr: "192.0.2.7"}
		// token creates a PAT of acme's alice (or globex's eve) straight in
		// the store, so that it may be born expired.
		token := func(org *storage.Organization, owner *storage.User, expires *time.Time) (string, *storage.PAT) {
			t.Helper()
			tok, err := exchange.NewPAT("pat_", nil)
			if err != nil {
				t.Fatal(err)
			}
			created := time.Now()
			if expires != nil && expires.Before(created) {
				created = expires.Add(-time.Hour)
			}
			p := &storage.PAT{OrgID: org.ID, UserID: owner.ID, Name: "n-" + tok[len(tok)-8:], Scopes: []string{"OR.Jobs"},
				Hash: exchange.HashPAT(tok), Hint: exchange.PATHint(tok), CreatedAt: created, ExpiresAt: expires}
			if err := f.st.CreatePAT(ctx, p); err != nil {
				t.Fatal(err)
			}
			return tok, p
		}
		unknown, err := exchange.NewPAT("pat_", nil)
		if err != nil {
			t.Fatal(err)
		}
		past := time.Now().Add(-time.Minute)

		type want struct {
			outcome governance.HolderOutcome
			reason  string // the PAT's revocation reason afterwards ("" for no PAT)
			audited bool   // one new pat.revoke event by the holder
			counted bool   // one revoked_holder event
		}
		cases := []struct {
			name string
			// setup returns the value to present, the PAT behind it (nil for
			// none) and the store the service reads.
			setup func(t *testing.T) (string, *storage.PAT, storage.Store)
			want  want
		}{
			{"a usable PAT is revoked, audited and counted", func(t *testing.T) (string, *storage.PAT, storage.Store) {
				tok, p := token(f.acme, f.alice, nil)
				return tok, p, f.st
			}, want{governance.HolderRevoked, governance.HolderReason, true, true}},
			{"a PAT of another organization is revoked: possession is the authority", func(t *testing.T) (string, *storage.PAT, storage.Store) {
				tok, p := token(f.globex, f.eve, nil)
				return tok, p, f.st
			}, want{governance.HolderRevoked, governance.HolderReason, true, true}},
			{"an expired PAT is revoked", func(t *testing.T) (string, *storage.PAT, storage.Store) {
				tok, p := token(f.acme, f.alice, &past)
				return tok, p, f.st
			}, want{governance.HolderRevoked, governance.HolderReason, true, true}},
			{"surrounding spaces are not trimmed: the value is the token or nothing", func(t *testing.T) (string, *storage.PAT, storage.Store) {
				tok, _ := token(f.acme, f.alice, nil)
				return " " + tok, nil, f.st
			}, want{outcome: governance.HolderNotFound}},
			{"a PAT already revoked keeps its revocation, unaudited and uncounted", func(t *testing.T) (string, *storage.PAT, storage.Store) {
				tok, p := token(f.acme, f.alice, nil)
				if _, err := f.st.RevokePAT(ctx, p.OrgID, p.ID, time.Now(), "owner"); err != nil {
					t.Fatal(err)
				}
				return tok, p, f.st
			}, want{governance.HolderAlreadyRevoked, "owner", false, false}},
			{"a revocation landing between the read and the transaction wins, unaudited and uncounted here", func(t *testing.T) (string, *storage.PAT, storage.Store) {
				tok, p := token(f.acme, f.alice, nil)
				stale := *p
				if _, err := f.st.RevokePAT(ctx, p.OrgID, p.ID, time.Now(), "admin"); err != nil {
					t.Fatal(err)
				}
				return tok, p, staleReads{Store: f.st, stale: &stale}
			}, want{governance.HolderAlreadyRevoked, "admin", false, false}},
			{"an unknown token is not found", func(t *testing.T) (string, *storage.PAT, storage.Store) {
				return unknown, nil, f.st
			}, want{outcome: governance.HolderNotFound}},
			{"a token with a bad checksum is not found", func(t *testing.T) (string, *storage.PAT, storage.Store) {
				tok, _ := token(f.acme, f.alice, nil)
				last := "A"
				if strings.HasSuffix(tok, "A") {
					last = "B"
				}
				return tok[:len(tok)-1] + last, nil, f.st
			}, want{outcome: governance.HolderNotFound}},
			{"another prefix is not found", func(t *testing.T) (string, *storage.PAT, storage.Store) {
				tok, _ := token(f.acme, f.alice, nil)
				return "ghp_" + tok[4:], nil, f.st
			}, want{outcome: governance.HolderNotFound}},
			{"an empty value is not found", func(t *testing.T) (string, *storage.PAT, storage.Store) {
				return "", nil, f.st
			}, want{outcome: governance.HolderNotFound}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				value, p, st := c.setup(t)
				ev := &events{}
				gov := governance.New(governance.Options{Store: storage.Narrow[governance.Tx](st), PATPrefix: "pat_", Events: ev,
					PasswordParams: testenv.CheapPasswords})
				before := holderEvents(t, f.st)

				got, err := gov.RevokeByHolder(ctx, holder, value)
				if err != nil {
					t.Fatalf("got %v, want an outcome", err)
				}
				if got.Outcome != c.want.outcome {
					t.Fatalf("got outcome %q, want %q", got.Outcome, c.want.outcome)
				}
				if p != nil && c.want.outcome != governance.HolderNotFound && (got.OrgID != p.OrgID || got.PATID != p.ID) {
					t.Fatalf("got PAT %s/%s, want %s/%s", got.OrgID, got.PATID, p.OrgID, p.ID)
				}
				if p != nil {
					now, err := f.st.GetPAT(ctx, p.OrgID, p.ID)
					if err != nil {
						t.Fatal(err)
					}
					if now.RevokedAt == nil || now.RevokedReason != c.want.reason {
						t.Fatalf("got revoked_at %v reason %q, want reason %q", now.RevokedAt, now.RevokedReason, c.want.reason)
					}
				}

				var added []storage.AuditEvent
				for _, e := range holderEvents(t, f.st) {
					if !slices.ContainsFunc(before, func(b storage.AuditEvent) bool { return b.ID == e.ID }) {
						added = append(added, e)
					}
				}
				switch {
				case !c.want.audited && len(added) != 0:
					t.Fatalf("got audit events %+v, want none", added)
				case c.want.audited && len(added) != 1:
					t.Fatalf("got %d audit events, want 1: %+v", len(added), added)
				case c.want.audited:
					a := added[0]
					if a.Actor != "client:cli" || a.Target != p.ID || a.OrgID != p.OrgID || a.Detail != "by holder" ||
						a.Outcome != "success" || a.ClientAddr != "192.0.2.7" {
						t.Fatalf("got audit event %+v, want pat.revoke of %s by client:cli from 192.0.2.7", a, p.ID)
					}
					hash := hex.EncodeToString(exchange.HashPAT(value))
					for _, s := range []string{a.Actor, a.Target, a.Detail, a.Outcome} {
						if strings.Contains(s, value) || strings.Contains(s, hash) {
							t.Fatal("the audit event holds the token or its hash")
						}
					}
				}
				wantEvents := []string{}
				if c.want.counted {
					wantEvents = []string{"revoked_holder"}
				}
				if got := ev.all(); strings.Join(got, ",") != strings.Join(wantEvents, ",") {
					t.Fatalf("got events %v, want %v", got, wantEvents)
				}
			})
		}

		t.Run("revoking twice changes nothing the second time", func(t *testing.T) {
			tok, p := token(f.acme, f.alice, nil)
			ev := &events{}
			gov := governance.New(governance.Options{Store: storage.Narrow[governance.Tx](f.st), PATPrefix: "pat_", Events: ev})
			first, err := gov.RevokeByHolder(ctx, holder, tok)
			if err != nil || first.Outcome != governance.HolderRevoked {
				t.Fatalf("first: got %+v %v, want revoked", first, err)
			}
			was, err := f.st.GetPAT(ctx, p.OrgID, p.ID)
			if err != nil {
				t.Fatal(err)
			}
			n := len(holderEvents(t, f.st))
			second, err := gov.RevokeByHolder(ctx, holder, tok)
			if err != nil || second.Outcome != governance.HolderAlreadyRevoked {
				t.Fatalf("second: got %+v %v, want already revoked", second, err)
			}
			now, err := f.st.GetPAT(ctx, p.OrgID, p.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !now.RevokedAt.Equal(*was.RevokedAt) {
				t.Fatalf("got revoked_at %v, want still %v", now.RevokedAt, was.RevokedAt)
			}
			if got := len(holderEvents(t, f.st)); got != n {
				t.Fatalf("got %d audit events, want still %d", got, n)
			}
			if got := ev.all(); len(got) != 1 {
				t.Fatalf("got events %v, want one revoked_holder", got)
			}
		})

		t.Run("a database failure is an error, never an outcome", func(t *testing.T) {
			st := storetest.Open(t, driver)
			gov := governance.New(governance.Options{Store: storage.Narrow[governance.Tx](st), PATPrefix: "pat_"})
			if err := st.Close(); err != nil {
				t.Fatal(err)
			}
			got, err := gov.RevokeByHolder(ctx, holder, unknown)
			if err == nil {
				t.Fatalf("got %+v, want an error", got)
			}
			if k := governance.KindOf(err); k != governance.Unavailable {
				t.Fatalf("got %v (kind %d), want Unavailable", err, k)
			}
			// A value that is not a PAT is refused before the database.
			if got, err := gov.RevokeByHolder(ctx, holder, "hello"); err != nil || got.Outcome != governance.HolderNotFound {
				t.Fatalf("got %+v %v, want not found without the database", got, err)
			}
		})
	})
}

// holderEvents lists every pat.revoke event.
func holderEvents(t *testing.T, st storage.Store) []storage.AuditEvent {
	t.Helper()
	var all []storage.AuditEvent
	for _, org := range []string{"acme", "globex"} {
		o, err := st.GetOrganizationByName(ctx, org)
		if err != nil {
			t.Fatal(err)
		}
		list, err := st.ListAudit(ctx, storage.AuditFilter{OrgID: o.ID, Action: "pat.revoke"})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, list...)
	}
	return all
}
