package signing

import (
	"bytes"
	"context"
	"crypto/cipher"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"

	"authserver/storage"
)

// Options configure a Keyring. Algorithm, RotationPeriod, PublishAhead,
// MaxTokenTTL and KEK come from configuration; the rest have defaults.
type Options struct {
	// Algorithm is ES256, RS256 or EdDSA: the algorithm of new keys. Keys of
	// another algorithm keep working until they are rotated out. Default
	// ES256.
	Algorithm string
	// RSABits is the size of new RS256 keys: 2048 (the default), 3072 or 4096.
	RSABits int
	// RotationPeriod is how long a key signs before the next takes over.
	RotationPeriod time.Duration
	// PublishAhead is how long a new key is in the JWKS before it signs. It
	// must be shorter than RotationPeriod.
	PublishAhead time.Duration
	// MaxTokenTTL is the longest lifetime of a token this server signs: a
	// superseded key stays published this long (plus a minute for clock
	// skew) after it stops signing.
	MaxTokenTTL time.Duration
	// KEK is the 32-byte key-encryption key (see ParseKEK and
	// LoadOrCreateKEKFile). New does not keep this slice.
	KEK []byte
	// Now is the clock; default time.Now.
	Now func() time.Time
	// RefreshInterval is how often Run reloads keys and applies the rotation
	// rules. Default min(30s, PublishAhead/4); it must be shorter than
	// PublishAhead, or a replica could miss a pending key until it signs.
	RefreshInterval time.Duration
	// Logger receives key lifecycle events and errors; default discards.
	Logger *slog.Logger
}

// KeyTx is what a Keyring does inside a transaction: take the keys lock,
// read the keys it protects and change them.
type KeyTx interface {
	Lock(ctx context.Context, name string) error
	CreateSigningKey(ctx context.Context, k *storage.SigningKey) error
	ListSigningKeys(ctx context.Context) ([]storage.SigningKey, error)
	UpdateSigningKeyRetirement(ctx context.Context, kid string, retiresAt *time.Time) error
	DeleteSigningKeys(ctx context.Context, retiredBefore time.Time) (int64, error)
}

// Store is what a Keyring needs from the database: the keys, read on every
// refresh, and transactions over them. storage.Narrow[KeyTx] of any
// storage.Store is one.
type Store interface {
	ListSigningKeys(ctx context.Context) ([]storage.SigningKey, error)
	// Update runs fn in one transaction: all of fn's writes land, or none.
	Update(ctx context.Context, fn func(tx KeyTx) error) error
}

var (
	_ KeyTx = storage.Store(nil)
	_ Store = storage.Narrowed[KeyTx]{}
)

// KeyLister reads the keys; any storage.Store is one.
type KeyLister interface {
	ListSigningKeys(ctx context.Context) ([]storage.SigningKey, error)
}

// KeyState is where a key is in its life at a given moment.
type KeyState string

// The states of a key.
const (
	// KeyPending: published, not signing yet.
	KeyPending KeyState = "pending"
	// KeyActive: the key that signs.
	KeyActive KeyState = "active"
	// KeyRetiring: superseded, still published until its tokens expire.
	KeyRetiring KeyState = "retiring"
	// KeyRetired: no longer published; deleted on the next maintenance.
	KeyRetired KeyState = "retired"
)

// KeyInfo describes a key without any of its material.
type KeyInfo struct {
	KID         string     `json:"kid"`
	Algorithm   string     `json:"alg"`
	CreatedAt   time.Time  `json:"created_at"`
	ActivatesAt time.Time  `json:"activates_at"`
	RetiresAt   *time.Time `json:"retires_at,omitempty"` // nil: not scheduled
	State       KeyState   `json:"state"`
}

// Errors of Sign and Verify.
var (
	// ErrNoSigningKey: no key may sign at this moment.
	ErrNoSigningKey = errors.New("no signing key is active")
	// ErrInvalidToken: Verify refused the token. The wrapping error says
	// why in fixed words; it never quotes the token.
	ErrInvalidToken = errors.New("invalid access token")
)

// lockName is the storage lock that serializes every change to the keys.
const lockName = "signing-keys"

// clockSkew is the margin for replicas' clocks disagreeing: it is added to
// every retirement and subtracted from the first key's activation.
const clockSkew = time.Minute

// Keyring is one process's view of the signing keys. Sign, Verify, JWKS and
// the accessors are safe for concurrent use and never touch the database;
// Maintain, Refresh and Rotate do, and may run concurrently with them.
type Keyring struct {
	st   Store
	aead cipher.AEAD
	o    Options // normalized; KEK cleared
	now  func() time.Time
	log  *slog.Logger

	snap atomic.Pointer[snapshot]
	// mu serializes installing snapshots, so that an older listing never
	// replaces a newer one.
	mu sync.Mutex
}

// snapshot is an immutable view of the keys, swapped whole on Refresh.
type snapshot struct {
	keys  []*loadedKey // published keys by (activates_at, kid)
	byKID map[string]*loadedKey
	jwks  []byte
	rows  []storage.SigningKey // every listed row, material stripped, for Keys
}

// active is the key that signs at now, or nil.
func (s *snapshot) active(now time.Time) *loadedKey {
	for i := len(s.keys) - 1; i >= 0; i-- {
		if !s.keys[i].activatesAt.After(now) {
			return s.keys[i]
		}
	}
	return nil
}

// New validates o, loads the keys and applies the rotation rules once, so
// that a key is active when it returns. It fails if the active key does not
// decrypt with o.KEK (errors.Is(err, ErrWrongKEK)).
func New(ctx context.Context, st Store, o Options) (*Keyring, error) {
	if err := o.normalize(); err != nil {
		return nil, fmt.Errorf("signing keyring: %w", err)
	}
	aead, err := newAEAD(o.KEK)
	if err != nil {
		return nil, fmt.Errorf("signing keyring: %w", err)
	}
	o.KEK = nil
	k := &Keyring{st: st, aead: aead, o: o, now: o.Now, log: o.Logger}
	empty, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{}})
	k.snap.Store(&snapshot{byKID: map[string]*loadedKey{}, jwks: empty})
	if err := k.Maintain(ctx); err != nil {
		return nil, fmt.Errorf("signing keyring: %w", err)
	}
	if k.snap.Load().active(k.now()) == nil {
		return nil, fmt.Errorf("signing keyring: %w (is this clock far behind the other replicas'?)", ErrNoSigningKey)
	}
	return k, nil
}

func (o *Options) normalize() error {
	var errs []error
	if o.Algorithm == "" {
		o.Algorithm = ES256
	}
	if !validAlgorithm(o.Algorithm) {
		errs = append(errs, fmt.Errorf("algorithm %q: want ES256, RS256 or EdDSA", o.Algorithm))
	}
	switch o.RSABits {
	case 0:
		o.RSABits = minRSABits
	case 2048, 3072, 4096:
	default:
		errs = append(errs, fmt.Errorf("RSA key size %d: want 2048, 3072 or 4096", o.RSABits))
	}
	if o.RotationPeriod <= 0 {
		errs = append(errs, errors.New("rotation period must be positive"))
	}
	if o.PublishAhead <= 0 || o.PublishAhead >= o.RotationPeriod {
		errs = append(errs, errors.New("publish-ahead must be positive and shorter than the rotation period"))
	}
	if o.MaxTokenTTL <= 0 {
		errs = append(errs, errors.New("maximum token lifetime must be positive"))
	}
	if len(o.KEK) != KEKSize {
		errs = append(errs, fmt.Errorf("encryption key is %d bytes, want %d", len(o.KEK), KEKSize))
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.RefreshInterval == 0 {
		o.RefreshInterval = min(30*time.Second, o.PublishAhead/4)
	}
	if o.RefreshInterval <= 0 || o.RefreshInterval >= o.PublishAhead {
		errs = append(errs, errors.New("refresh interval must be positive and shorter than publish-ahead"))
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return errors.Join(errs...)
}

// Refresh reloads the keys from the database and rebuilds the signers and
// the JWKS. Keys already decrypted are reused. A key other than the active
// one that cannot be loaded is logged and left out (never published, never
// used); if the active key cannot be loaded, Refresh fails and the previous
// keys stay in use.
func (k *Keyring) Refresh(ctx context.Context) error {
	rows, err := k.st.ListSigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("refresh signing keys: %w", err)
	}
	return k.install(rows)
}

func (k *Keyring) install(rows []storage.SigningKey) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.now()
	prev := k.snap.Load()
	sortKeys(rows)
	live := liveKeys(rows, now)
	ai := activeIndex(live, now)
	s := &snapshot{byKID: make(map[string]*loadedKey, len(live))}
	var skipped []error
	for i := range live {
		lk, err := k.load(prev, &live[i])
		if err != nil {
			if i == ai {
				return fmt.Errorf("refresh signing keys: active key: %w", err)
			}
			skipped = append(skipped, err)
			continue
		}
		s.keys = append(s.keys, lk)
		s.byKID[lk.kid] = lk
	}
	set := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, len(s.keys))}
	for i, lk := range s.keys {
		set.Keys[i] = lk.public
	}
	jwks, err := json.Marshal(set)
	if err != nil {
		return fmt.Errorf("refresh signing keys: marshal JWKS: %w", err)
	}
	s.jwks = jwks
	s.rows = make([]storage.SigningKey, len(rows))
	for i, r := range rows {
		r.PrivateKey, r.PublicJWK = nil, nil
		s.rows[i] = r
	}
	k.snap.Store(s)
	for _, err := range skipped {
		k.log.Error("signing key not published", "err", err)
	}
	return nil
}

// load returns the loaded form of row, reusing prev's when the stored key
// is unchanged, so a refresh decrypts and parses only new keys.
func (k *Keyring) load(prev *snapshot, row *storage.SigningKey) (*loadedKey, error) {
	if old := prev.byKID[row.KID]; old != nil && string(old.alg) == row.Algorithm &&
		bytes.Equal(old.sealed, row.PrivateKey) && bytes.Equal(old.publicJWK, row.PublicJWK) {
		lk := *old
		lk.activatesAt, lk.retiresAt = row.ActivatesAt, row.RetiresAt
		return &lk, nil
	}
	return loadKey(k.aead, row)
}

// Sign returns the compact JWS of payload, signed by the key active now,
// with header alg, kid and typ "at+jwt". The payload is signed as given:
// marshal the claims once and pass the bytes.
func (k *Keyring) Sign(payload []byte) (string, error) {
	key, err := k.signingKey()
	if err != nil {
		return "", err
	}
	jws, err := key.signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("sign with key %s: %w", key.kid, err)
	}
	return jws, nil
}

// SignEvent returns the compact JWS of a Security Event Token's payload
// (RFC 8417), signed like Sign by the key active now but with typ
// "secevent+jwt", so that a receiver never takes it for an access token and
// Verify never takes it for one either.
func (k *Keyring) SignEvent(payload []byte) (string, error) {
	key, err := k.signingKey()
	if err != nil {
		return "", err
	}
	jws, err := key.eventSigner.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("sign event with key %s: %w", key.kid, err)
	}
	return jws, nil
}

// signingKey is the key that may sign now.
func (k *Keyring) signingKey() (*loadedKey, error) {
	now := k.now()
	key := k.snap.Load().active(now)
	if key == nil {
		return nil, ErrNoSigningKey
	}
	// A token signed now may live MaxTokenTTL: the key must stay published
	// that long. Never true in normal operation (retirement is set to the
	// successor's activation + MaxTokenTTL + skew); it stops a replica whose
	// view of the keys has gone wrong from signing unverifiable tokens.
	if key.retiresAt != nil && !now.Add(k.o.MaxTokenTTL).Before(*key.retiresAt) {
		return nil, fmt.Errorf("%w: key %s retires before a token signed now would expire", ErrNoSigningKey, key.kid)
	}
	return key, nil
}

// JWKS returns the published public keys as a JSON JWK Set: pending,
// active and retiring keys, never a private parameter. The bytes are built
// on Refresh and shared: do not modify them.
func (k *Keyring) JWKS() []byte { return k.snap.Load().jwks }

// Verify checks a compact JWS against the published keys and returns its
// payload. The header's alg must be ES256, RS256 or EdDSA and equal to the
// key's; typ must be at+jwt (or application/at+jwt, RFC 9068 §4); kid must
// name a published key that has not retired. Verify checks the signature
// only: the caller checks the claims (exp, iss, aud, …).
func (k *Keyring) Verify(token string) ([]byte, error) {
	jws, err := jose.ParseSignedCompact(token, algorithms)
	if err != nil {
		// go-jose's message can quote header values; keep the token out.
		return nil, fmt.Errorf("%w: malformed, or alg not ES256, RS256 or EdDSA", ErrInvalidToken)
	}
	if len(jws.Signatures) != 1 {
		return nil, fmt.Errorf("%w: want exactly one signature", ErrInvalidToken)
	}
	h := jws.Signatures[0].Protected
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); !strings.EqualFold(typ, "at+jwt") && !strings.EqualFold(typ, "application/at+jwt") {
		return nil, fmt.Errorf("%w: typ is not at+jwt", ErrInvalidToken)
	}
	key := k.snap.Load().byKID[h.KeyID]
	if key == nil || (key.retiresAt != nil && !k.now().Before(*key.retiresAt)) {
		return nil, fmt.Errorf("%w: kid is not a published key", ErrInvalidToken)
	}
	if h.Algorithm != string(key.alg) {
		return nil, fmt.Errorf("%w: alg is not the key's", ErrInvalidToken)
	}
	payload, err := jws.Verify(key.public.Key)
	if err != nil {
		return nil, fmt.Errorf("%w: bad signature", ErrInvalidToken)
	}
	return payload, nil
}

// Keys describes every key as of the last Refresh, with its state now, in
// activation order.
func (k *Keyring) Keys() []KeyInfo { return keyInfos(k.snap.Load().rows, k.now()) }

// ListKeys describes the keys in st with their states at now, without
// decrypting anything: for `authserver keys list`, which needs no KEK.
func ListKeys(ctx context.Context, st KeyLister, now time.Time) ([]KeyInfo, error) {
	rows, err := st.ListSigningKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("list signing keys: %w", err)
	}
	sortKeys(rows)
	return keyInfos(rows, now), nil
}

// ActiveKeyAge is how long the active key has been signing (0 if none).
func (k *Keyring) ActiveKeyAge() time.Duration {
	now := k.now()
	if key := k.snap.Load().active(now); key != nil {
		return now.Sub(key.activatesAt)
	}
	return 0
}

// RotationPeriod is how long a key signs before the next takes over, as
// configured: the age ActiveKeyAge should not exceed by much.
func (k *Keyring) RotationPeriod() time.Duration { return k.o.RotationPeriod }

// PublishedCount is the number of keys in the JWKS.
func (k *Keyring) PublishedCount() int { return len(k.snap.Load().keys) }

// JWKSMaxAge is the longest Cache-Control max-age a JWKS response should
// carry: a resource server that cached the JWKS just before this replica
// loaded a new key must fetch it again before the key signs, which leaves
// PublishAhead − RefreshInterval; half of that keeps a margin.
func (k *Keyring) JWKSMaxAge() time.Duration {
	return (k.o.PublishAhead - k.o.RefreshInterval) / 2
}

// sortKeys orders keys by activation, then kid: the order in which they
// take over from one another.
func sortKeys(rows []storage.SigningKey) {
	slices.SortFunc(rows, func(a, b storage.SigningKey) int {
		if c := a.ActivatesAt.Compare(b.ActivatesAt); c != 0 {
			return c
		}
		return strings.Compare(a.KID, b.KID)
	})
}

// retired reports whether a key with this retirement is unpublished at now.
func retired(retiresAt *time.Time, now time.Time) bool {
	return retiresAt != nil && !retiresAt.After(now)
}

// liveKeys are the sorted rows not retired at now.
func liveKeys(sorted []storage.SigningKey, now time.Time) []storage.SigningKey {
	var live []storage.SigningKey
	for _, r := range sorted {
		if !retired(r.RetiresAt, now) {
			live = append(live, r)
		}
	}
	return live
}

// activeIndex is the index in live of the key active at now: the latest
// activation not after now, the greater kid on a tie. -1 if none. Every key
// after it is pending.
func activeIndex(live []storage.SigningKey, now time.Time) int {
	for i := len(live) - 1; i >= 0; i-- {
		if !live[i].ActivatesAt.After(now) {
			return i
		}
	}
	return -1
}

func keyInfos(sorted []storage.SigningKey, now time.Time) []KeyInfo {
	active := ""
	if live := liveKeys(sorted, now); len(live) > 0 {
		if i := activeIndex(live, now); i >= 0 {
			active = live[i].KID
		}
	}
	out := make([]KeyInfo, len(sorted))
	for i, r := range sorted {
		state := KeyRetiring
		switch {
		case retired(r.RetiresAt, now):
			state = KeyRetired
		case r.KID == active:
			state = KeyActive
		case r.ActivatesAt.After(now):
			state = KeyPending
		}
		out[i] = KeyInfo{KID: r.KID, Algorithm: r.Algorithm, CreatedAt: r.CreatedAt, ActivatesAt: r.ActivatesAt, RetiresAt: r.RetiresAt, State: state}
	}
	return out
}
