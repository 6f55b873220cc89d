package storage

import (
	"context"
	"fmt"
	"reflect"
)

// Narrowed is a Store whose transactions a consumer sees as T: the few
// methods it calls inside one, declared as an interface next to the
// consumer. It is what Narrow returns; see the package documentation for
// why transactions are handed out this way.
type Narrowed[T any] struct {
	Store
}

// Narrow returns st with an Update method whose closure receives the
// transaction-bound store as T. T must be an interface that every Store
// satisfies; Narrow panics otherwise, so a consumer that declares a method
// the Store does not have fails at start-up (and in its first test), not in
// the middle of a transaction. Consumers also state
//
//	var _ T = storage.Store(nil)
//
// next to T, which catches the same mistake at compile time.
func Narrow[T any](st Store) Narrowed[T] {
	t := reflect.TypeFor[T]()
	if t.Kind() != reflect.Interface || !reflect.TypeFor[Store]().Implements(t) {
		panic(fmt.Sprintf("storage.Narrow: %v is not an interface that storage.Store satisfies", t))
	}
	return Narrowed[T]{st}
}

// Update runs fn in one transaction, as WithTx does: all of fn's writes
// land, or none. Inside fn, use only tx. Called on a store that is already
// in a transaction, it joins that transaction.
func (n Narrowed[T]) Update(ctx context.Context, fn func(tx T) error) error {
	return n.Store.WithTx(ctx, func(tx Store) error {
		// Cannot fail: Narrow checked that every Store is a T.
		return fn(tx.(T))
	})
}
