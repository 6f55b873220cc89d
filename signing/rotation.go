package signing

import (
	"context"
	"errors"
	"fmt"
	"time"

	"authserver/internal/periodic"
	"authserver/storage"
)

// createSpec is a key the rules want created.
type createSpec struct {
	alg         string
	activatesAt time.Time
	reason      string // for the log: first key, scheduled rotation, …
}

// retirement schedules a key's retirement.
type retirement struct {
	kid string
	at  time.Time
}

// changes is what a maintenance transaction did, logged after it commits.
type changes struct {
	created *storage.SigningKey
	reason  string
	retired []retirement
	deleted int64
}

// stamp is a time as the store keeps it: UTC at microsecond precision, so
// that what the rules compute compares equal to what they read back.
func stamp(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// wantCreate applies the creation rules to the live keys at now.
func (k *Keyring) wantCreate(live []storage.SigningKey, now time.Time) *createSpec {
	if len(live) == 0 {
		// Nothing was ever published, so there is nothing to pre-publish:
		// the first key signs at once, back-dated so that replicas whose
		// clocks are a little behind agree.
		return &createSpec{alg: k.o.Algorithm, activatesAt: now.Add(-clockSkew), reason: "first key"}
	}
	ai := activeIndex(live, now)
	if ai < 0 || ai < len(live)-1 {
		// Only pending keys (a clock behind the others'), or a key is
		// already pending: nothing to create.
		return nil
	}
	a := live[ai]
	if a.Algorithm != k.o.Algorithm {
		return &createSpec{alg: k.o.Algorithm, activatesAt: stamp(now.Add(k.o.PublishAhead)), reason: "algorithm change"}
	}
	if !now.Before(a.ActivatesAt.Add(k.o.RotationPeriod - k.o.PublishAhead)) {
		at := later(now.Add(k.o.PublishAhead), a.ActivatesAt.Add(k.o.RotationPeriod))
		return &createSpec{alg: k.o.Algorithm, activatesAt: stamp(at), reason: "scheduled rotation"}
	}
	return nil
}

// wantRetire applies the retirement rule to the live keys: a key with a
// successor retires when every token it can have signed has expired, that
// is MaxTokenTTL (plus skew) after the successor takes over. A retirement
// is only ever moved later (a replica configured with a longer MaxTokenTTL
// wins), so replicas with different settings cannot undo each other.
func (k *Keyring) wantRetire(live []storage.SigningKey) []retirement {
	var out []retirement
	for i := 0; i+1 < len(live); i++ {
		at := stamp(live[i+1].ActivatesAt.Add(k.o.MaxTokenTTL + clockSkew))
		if live[i].RetiresAt == nil || live[i].RetiresAt.Before(at) {
			out = append(out, retirement{kid: live[i].KID, at: at})
		}
	}
	return out
}

// wantDelete reports whether any key has retired, and can be deleted.
func wantDelete(rows []storage.SigningKey, now time.Time) bool {
	for _, r := range rows {
		if r.RetiresAt != nil && r.RetiresAt.Before(now) {
			return true
		}
	}
	return false
}

// Maintain applies the rotation rules once, then refreshes. It first reads
// the keys without a transaction; only when the rules call for a change does
// it generate key material (outside the lock: RSA generation is slow) and
// open a transaction that takes the "signing-keys" lock, re-reads the keys
// and decides again, so concurrent replicas make each change once.
func (k *Keyring) Maintain(ctx context.Context) error {
	rows, err := k.st.ListSigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("maintain signing keys: %w", err)
	}
	now := stamp(k.now())
	sortKeys(rows)
	live := liveKeys(rows, now)
	create := k.wantCreate(live, now)
	if create != nil || len(k.wantRetire(live)) > 0 || wantDelete(rows, now) {
		var spare *storage.SigningKey
		if create != nil {
			if spare, err = generateKey(k.aead, create.alg, k.o.RSABits); err != nil {
				return fmt.Errorf("maintain signing keys: %w", err)
			}
		}
		var ch changes
		err := k.st.Update(ctx, func(tx KeyTx) error {
			rows, now, err := k.lockAndList(ctx, tx)
			if err != nil {
				return err
			}
			var key *storage.SigningKey
			if c := k.wantCreate(liveKeys(rows, now), now); c != nil {
				if key = spare; key == nil || key.Algorithm != c.alg {
					if key, err = generateKey(k.aead, c.alg, k.o.RSABits); err != nil {
						return err
					}
				}
				key.ActivatesAt, ch.reason = c.activatesAt, c.reason
			}
			return k.apply(ctx, tx, rows, now, key, &ch)
		})
		if err != nil {
			return fmt.Errorf("maintain signing keys: %w", err)
		}
		k.logChanges(&ch)
		if rows, err = k.st.ListSigningKeys(ctx); err != nil {
			return fmt.Errorf("maintain signing keys: %w", err)
		}
	}
	return k.install(rows)
}

// Rotate creates a new key now, for an operator. It activates after
// PublishAhead, or at once when immediate is set: use that only for a
// compromised key, because resource servers holding a cached JWKS will
// reject tokens from the new key until they fetch it again. The active
// key's retirement is scheduled for MaxTokenTTL (plus skew) after the new
// key activates; tokens it signed stay valid until then.
//
// If a key is already pending and immediate is false, no key is created:
// the pending key activates no later than a new one would, and its info is
// returned.
func (k *Keyring) Rotate(ctx context.Context, immediate bool) (*KeyInfo, error) {
	spare, err := generateKey(k.aead, k.o.Algorithm, k.o.RSABits)
	if err != nil {
		return nil, fmt.Errorf("rotate signing key: %w", err)
	}
	var info KeyInfo
	var ch changes
	err = k.st.Update(ctx, func(tx KeyTx) error {
		rows, now, err := k.lockAndList(ctx, tx)
		if err != nil {
			return err
		}
		live := liveKeys(rows, now)
		ai := activeIndex(live, now)
		if !immediate && ai < len(live)-1 {
			info = keyInfos(live, now)[ai+1]
			return nil
		}
		spare.ActivatesAt, ch.reason = stamp(now.Add(k.o.PublishAhead)), "operator rotation"
		if immediate {
			spare.ActivatesAt, ch.reason = now, "immediate operator rotation"
			if ai >= 0 {
				a := &rows[indexOf(rows, live[ai].KID)]
				// Never tie with the key it replaces: a tie goes by kid.
				spare.ActivatesAt = later(now, a.ActivatesAt.Add(time.Microsecond))
				// Retire the replaced key as early as is safe, even if a
				// pending key had scheduled it later.
				at := stamp(spare.ActivatesAt.Add(k.o.MaxTokenTTL + clockSkew))
				if err := tx.UpdateSigningKeyRetirement(ctx, a.KID, &at); err != nil {
					return err
				}
				a.RetiresAt = &at
				ch.retired = append(ch.retired, retirement{kid: a.KID, at: at})
			}
		}
		if err := k.apply(ctx, tx, rows, now, spare, &ch); err != nil {
			return err
		}
		info = keyInfos([]storage.SigningKey{*spare}, now)[0]
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("rotate signing key: %w", err)
	}
	k.logChanges(&ch)
	if err := k.Refresh(ctx); err != nil {
		return &info, fmt.Errorf("rotate signing key: rotated, but %w", err)
	}
	return &info, nil
}

// lockAndList takes the keys lock in tx and reads the keys it protects. It
// refuses to go on if this process's KEK does not open the active key: a
// replica with the wrong KEK must never add a key the others cannot read.
func (k *Keyring) lockAndList(ctx context.Context, tx KeyTx) ([]storage.SigningKey, time.Time, error) {
	if err := tx.Lock(ctx, lockName); err != nil {
		return nil, time.Time{}, err
	}
	rows, err := tx.ListSigningKeys(ctx)
	if err != nil {
		return nil, time.Time{}, err
	}
	now := stamp(k.now())
	sortKeys(rows)
	live := liveKeys(rows, now)
	if len(live) > 0 {
		probe := live[len(live)-1] // the newest key, when none is active yet
		if i := activeIndex(live, now); i >= 0 {
			probe = live[i]
		}
		pt, err := open(k.aead, probe.KID, probe.PrivateKey)
		clear(pt)
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("refusing to change keys this process cannot read: %w", err)
		}
	}
	return rows, now, nil
}

// apply writes one pass of the rules inside the locked transaction: the
// new key if any, then retirements (taking the new key into account), then
// deletion of retired keys.
func (k *Keyring) apply(ctx context.Context, tx KeyTx, rows []storage.SigningKey, now time.Time, key *storage.SigningKey, ch *changes) error {
	if key != nil {
		key.CreatedAt = now
		if err := tx.CreateSigningKey(ctx, key); err != nil {
			return err
		}
		ch.created = key
		rows = append(rows, *key)
		sortKeys(rows)
	}
	for _, r := range k.wantRetire(liveKeys(rows, now)) {
		if err := tx.UpdateSigningKeyRetirement(ctx, r.kid, &r.at); err != nil {
			return err
		}
		if key != nil && key.KID == r.kid {
			key.RetiresAt = &r.at
		}
		ch.retired = append(ch.retired, r)
	}
	if wantDelete(rows, now) {
		n, err := tx.DeleteSigningKeys(ctx, now)
		if err != nil {
			return err
		}
		ch.deleted = n
	}
	return nil
}

func (k *Keyring) logChanges(ch *changes) {
	if c := ch.created; c != nil {
		k.log.Info("signing key created", "kid", c.KID, "alg", c.Algorithm, "activates_at", c.ActivatesAt, "reason", ch.reason)
	}
	for _, r := range ch.retired {
		k.log.Info("signing key retirement scheduled", "kid", r.kid, "retires_at", r.at)
	}
	if ch.deleted > 0 {
		k.log.Info("retired signing keys deleted", "count", ch.deleted)
	}
}

// Run applies the rotation rules and reloads the keys every
// RefreshInterval until ctx is done, then returns; run it in its own
// goroutine. A failed pass is logged and Sign keeps using the last good
// keys.
func (k *Keyring) Run(ctx context.Context) {
	periodic.Every(ctx, k.o.RefreshInterval, func(ctx context.Context) {
		if err := k.Maintain(ctx); err != nil && !errors.Is(err, context.Canceled) {
			k.log.Error("signing key maintenance failed; still using the last good keys", "err", err)
		}
	})
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func indexOf(rows []storage.SigningKey, kid string) int {
	for i := range rows {
		if rows[i].KID == kid {
			return i
		}
	}
	return -1
}
