package storage_test

import (
	"context"
	"errors"
	"testing"

	"authserver/storage"
)

// orgTx is a consumer's view of a transaction: the two methods it uses.
type orgTx interface {
	CreateOrganization(ctx context.Context, o *storage.Organization) error
	GetOrganizationByName(ctx context.Context, name string) (*storage.Organization, error)
}

func TestNarrowUpdateCommitsOrRollsBack(t *testing.T) {
	ctx := context.Background()
	st := storage.Narrow[orgTx](openSQLite(t))

	if err := st.Update(ctx, func(tx orgTx) error {
		return tx.CreateOrganization(ctx, &storage.Organization{Name: "kept", PATsEnabled: true})
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.GetOrganizationByName(ctx, "kept"); err != nil {
		t.Fatalf("a committed write is not there: %v", err)
	}

	boom := errors.New("boom")
	err := st.Update(ctx, func(tx orgTx) error {
		if err := tx.CreateOrganization(ctx, &storage.Organization{Name: "dropped", PATsEnabled: true}); err != nil {
			return err
		}
		// The write is visible inside its own transaction.
		if _, err := tx.GetOrganizationByName(ctx, "dropped"); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update returned %v, want the closure's error", err)
	}
	if _, err := st.GetOrganizationByName(ctx, "dropped"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("a failed transaction's write is there: %v", err)
	}
}

func TestNarrowUpdateJoinsAnOuterTransaction(t *testing.T) {
	ctx := context.Background()
	st := openSQLite(t)
	boom := errors.New("boom")
	err := st.WithTx(ctx, func(outer storage.Store) error {
		inner := storage.Narrow[orgTx](outer)
		if err := inner.Update(ctx, func(tx orgTx) error {
			return tx.CreateOrganization(ctx, &storage.Organization{Name: "inner", PATsEnabled: true})
		}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("got %v, want the outer closure's error", err)
	}
	if _, err := st.GetOrganizationByName(ctx, "inner"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("the inner write outlived the outer rollback: %v", err)
	}
}

func TestNarrowRefusesAnInterfaceStoreDoesNotSatisfy(t *testing.T) {
	for _, c := range []struct {
		rule   string
		narrow func(storage.Store)
	}{
		{"a method Store does not have", func(st storage.Store) {
			storage.Narrow[interface{ Frobnicate(context.Context) error }](st)
		}},
		{"a concrete type", func(st storage.Store) { storage.Narrow[*storage.SQLStore](st) }},
	} {
		t.Run(c.rule, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("Narrow did not panic")
				}
			}()
			c.narrow(nil)
		})
	}
}
