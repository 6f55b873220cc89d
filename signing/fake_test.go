package signing

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"authserver/storage"
)

// fakeStore is an in-memory Store, and the KeyTx of its transactions.
// Transactions are real enough for the rules under test: Lock serializes
// transactions that take the same name until they end, a failed
// transaction's writes are undone, and every write must happen in a
// transaction holding the "signing-keys" lock, so a keyring that forgot the
// lock fails the tests.
type fakeStore struct {
	d      *fakeData
	tx     bool
	locked map[string]bool // names this transaction holds
	undo   *[]func()
}

type fakeData struct {
	mu    sync.Mutex // guards rows and stats
	rows  map[string]storage.SigningKey
	locks sync.Map // name → *sync.Mutex
	// listDelay widens the window between reading and writing, so that a
	// missing lock shows up as a duplicate key.
	listDelay time.Duration
	txs       int
}

func newFakeStore() *fakeStore {
	return &fakeStore{d: &fakeData{rows: map[string]storage.SigningKey{}}}
}

var (
	_ Store = (*fakeStore)(nil)
	_ KeyTx = (*fakeStore)(nil)
)

func (f *fakeStore) Update(ctx context.Context, fn func(KeyTx) error) error {
	if f.tx {
		return fn(f)
	}
	var undo []func()
	tx := &fakeStore{d: f.d, tx: true, locked: map[string]bool{}, undo: &undo}
	f.d.mu.Lock()
	f.d.txs++
	f.d.mu.Unlock()
	err := fn(tx)
	if err != nil {
		f.d.mu.Lock()
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
		f.d.mu.Unlock()
	}
	for name := range tx.locked {
		m, _ := f.d.locks.Load(name)
		m.(*sync.Mutex).Unlock()
	}
	return err
}

func (f *fakeStore) Lock(ctx context.Context, name string) error {
	if !f.tx {
		return fmt.Errorf("lock %q: not inside a transaction", name)
	}
	if f.locked[name] {
		return nil
	}
	m, _ := f.d.locks.LoadOrStore(name, &sync.Mutex{})
	m.(*sync.Mutex).Lock()
	f.locked[name] = true
	return nil
}

// mayWrite enforces that key writes happen under the keys lock.
func (f *fakeStore) mayWrite(op string) error {
	if !f.tx || !f.locked[lockName] {
		return fmt.Errorf("%s outside a transaction holding the %q lock", op, lockName)
	}
	return nil
}

func (f *fakeStore) CreateSigningKey(ctx context.Context, k *storage.SigningKey) error {
	if err := f.mayWrite("create signing key"); err != nil {
		return err
	}
	f.d.mu.Lock()
	defer f.d.mu.Unlock()
	if _, ok := f.d.rows[k.KID]; ok {
		return fmt.Errorf("create signing key: %w", storage.ErrAlreadyExists)
	}
	f.d.rows[k.KID] = cloneKey(*k)
	*f.undo = append(*f.undo, func() { delete(f.d.rows, k.KID) })
	return nil
}

func (f *fakeStore) ListSigningKeys(ctx context.Context) ([]storage.SigningKey, error) {
	f.d.mu.Lock()
	out := make([]storage.SigningKey, 0, len(f.d.rows))
	for _, r := range f.d.rows {
		out = append(out, cloneKey(r))
	}
	delay := f.d.listDelay
	f.d.mu.Unlock()
	time.Sleep(delay)
	sortKeys(out)
	return out, nil
}

func (f *fakeStore) UpdateSigningKeyRetirement(ctx context.Context, kid string, at *time.Time) error {
	if err := f.mayWrite("update signing key"); err != nil {
		return err
	}
	f.d.mu.Lock()
	defer f.d.mu.Unlock()
	r, ok := f.d.rows[kid]
	if !ok {
		return fmt.Errorf("update signing key: %w", storage.ErrNotFound)
	}
	old := r.RetiresAt
	r.RetiresAt = cloneTime(at)
	f.d.rows[kid] = r
	*f.undo = append(*f.undo, func() { r.RetiresAt = old; f.d.rows[kid] = r })
	return nil
}

func (f *fakeStore) DeleteSigningKeys(ctx context.Context, before time.Time) (int64, error) {
	if err := f.mayWrite("delete signing keys"); err != nil {
		return 0, err
	}
	f.d.mu.Lock()
	defer f.d.mu.Unlock()
	var n int64
	for kid, r := range f.d.rows {
		if r.RetiresAt != nil && r.RetiresAt.Before(before) {
			delete(f.d.rows, kid)
			*f.undo = append(*f.undo, func() { f.d.rows[kid] = r })
			n++
		}
	}
	return n, nil
}

// row returns a stored key by kid.
func (f *fakeStore) row(kid string) (storage.SigningKey, bool) {
	f.d.mu.Lock()
	defer f.d.mu.Unlock()
	r, ok := f.d.rows[kid]
	return cloneKey(r), ok
}

// put writes a row directly, as someone with database access might.
func (f *fakeStore) put(r storage.SigningKey) {
	f.d.mu.Lock()
	defer f.d.mu.Unlock()
	f.d.rows[r.KID] = cloneKey(r)
}

func (f *fakeStore) count() int {
	f.d.mu.Lock()
	defer f.d.mu.Unlock()
	return len(f.d.rows)
}

func cloneKey(k storage.SigningKey) storage.SigningKey {
	k.PrivateKey = slices.Clone(k.PrivateKey)
	k.PublicJWK = slices.Clone(k.PublicJWK)
	k.RetiresAt = cloneTime(k.RetiresAt)
	return k
}

func cloneTime(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	c := *t
	return &c
}

// fakeClock is a settable clock shared by keyrings in a test.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// Settings used unless a test says otherwise.
const (
	testRotation     = 24 * time.Hour
	testPublishAhead = time.Hour
	testMaxTTL       = 10 * time.Minute
)

func testKEK(t testing.TB) []byte {
	t.Helper()
	kek := make([]byte, KEKSize)
	if _, err := rand.Read(kek); err != nil {
		t.Fatal(err)
	}
	return kek
}

func testOptions(clock *fakeClock, kek []byte, alg string) Options {
	return Options{
		Algorithm:      alg,
		RotationPeriod: testRotation,
		PublishAhead:   testPublishAhead,
		MaxTokenTTL:    testMaxTTL,
		KEK:            kek,
		Now:            clock.Now,
		Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

func mustNew(t testing.TB, st Store, o Options) *Keyring {
	t.Helper()
	k, err := New(context.Background(), st, o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return k
}

func mustSign(t testing.TB, k *Keyring, payload []byte) string {
	t.Helper()
	tok, err := k.Sign(payload)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return tok
}

// logBuffer collects log output for leak checks.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
