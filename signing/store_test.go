package signing

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"authserver/internal/pgtest"
	"authserver/internal/storetest"
	"authserver/storage"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestOnRealStores runs the key lifecycle on the real store, SQLite and
// PostgreSQL: two keyrings share one database, as two processes would, and
// the store's Lock is what keeps them from creating two keys.
func TestOnRealStores(t *testing.T) {
	ctx := context.Background()
	storetest.Each(t, func(t *testing.T, driver string) {
		dsn := filepath.Join(t.TempDir(), "k.db")
		if driver == storage.DriverPostgres {
			dsn = storetest.DSN(t, driver)
		}
		st, err := storage.Open(ctx, storage.Options{Driver: driver, DSN: dsn})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		if _, err := st.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		testLifecycle(t, st)
	})
}

func testLifecycle(t *testing.T, st *storage.SQLStore) {
	ctx := context.Background()
	clock := newFakeClock()
	kek := testKEK(t)
	keys := storage.Narrow[KeyTx](st)
	a := mustNew(t, keys, testOptions(clock, kek, ES256))
	b := mustNew(t, keys, testOptions(clock, kek, ES256))
	first := a.Keys()[0].KID

	t.Run("a second keyring on the same database uses the same key", func(t *testing.T) {
		rows, err := st.ListSigningKeys(ctx)
		if err != nil || len(rows) != 1 {
			t.Fatalf("stored keys: got %d (%v), want 1", len(rows), err)
		}
		tok := mustSign(t, b, claims)
		if got := header(t, tok)["kid"]; got != first {
			t.Errorf("B signs with %v, want %s", got, first)
		}
		if _, err := a.Verify(tok); err != nil {
			t.Errorf("A does not verify B's token: %v", err)
		}
	})

	t.Run("concurrent maintenance at rotation time creates one next key", func(t *testing.T) {
		clock.Advance(testRotation - testPublishAhead)
		var wg sync.WaitGroup
		for _, k := range []*Keyring{a, b} {
			wg.Go(func() {
				if err := k.Maintain(ctx); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		rows, err := st.ListSigningKeys(ctx)
		if err != nil || len(rows) != 2 {
			t.Fatalf("stored keys: got %d (%v), want 2", len(rows), err)
		}
	})

	var old string
	t.Run("both switch to the next key at its activation", func(t *testing.T) {
		old = mustSign(t, a, claims)
		for _, k := range []*Keyring{a, b} {
			if err := k.Refresh(ctx); err != nil {
				t.Fatal(err)
			}
		}
		clock.Advance(testPublishAhead)
		ka, kb := header(t, mustSign(t, a, claims))["kid"], header(t, mustSign(t, b, claims))["kid"]
		if ka != kb || ka == first {
			t.Errorf("A signs with %v, B with %v, want both the next key", ka, kb)
		}
		if _, err := b.Verify(old); err != nil {
			t.Errorf("a token of the previous key fails after rotation: %v", err)
		}
	})

	t.Run("the superseded key is retired and deleted", func(t *testing.T) {
		clock.Advance(testMaxTTL + clockSkew + time.Second)
		if err := a.Maintain(ctx); err != nil {
			t.Fatal(err)
		}
		rows, err := st.ListSigningKeys(ctx)
		if err != nil || len(rows) != 1 || rows[0].KID == first {
			t.Fatalf("stored keys: got %+v (%v), want only the next key", rows, err)
		}
		if _, err := a.Verify(old); err == nil {
			t.Error("a token of the retired key still verifies")
		}
		if slices.Contains(kidsIn(t, a.JWKS()), first) {
			t.Error("the retired key is still published")
		}
	})

	t.Run("a wrong KEK is refused", func(t *testing.T) {
		_, err := New(ctx, keys, testOptions(clock, testKEK(t), ES256))
		if !errors.Is(err, ErrWrongKEK) {
			t.Errorf("got %v, want ErrWrongKEK", err)
		}
	})
}
