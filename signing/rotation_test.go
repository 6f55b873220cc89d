package signing

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"
)

// TestRotationSchedule runs two replicas on one store through several
// rotation periods with a fake clock, in one-minute steps. Replica A runs
// maintenance every step, replica B every fifth, both sign, and an
// independent resource server verifies every token with the JWKS of either
// replica just before the token expires.
func TestRotationSchedule(t *testing.T) {
	const step = 2 * time.Minute
	const bEvery = 5
	ctx := context.Background()
	clock := newFakeClock()
	st := newFakeStore()
	kek := testKEK(t)
	oa := testOptions(clock, kek, ES256)
	oa.RefreshInterval = step
	ob := oa
	ob.RefreshInterval = bEvery * step
	a := mustNew(t, st, oa)
	b := mustNew(t, st, ob)
	start := clock.Now()
	firstKID := a.Keys()[0].KID

	type token struct {
		tok      string
		signedAt time.Time
	}
	var tokens []token
	firstSeen := map[*Keyring]map[string]time.Time{a: {}, b: {}}
	lastSeenA := map[string]time.Time{}
	firstSign := map[string]time.Time{}
	activation := map[string]time.Time{}

	for i := 0; clock.Now().Before(start.Add(3*testRotation + 2*time.Hour)); i++ {
		now := clock.Now()
		if err := a.Maintain(ctx); err != nil {
			t.Fatalf("%s: A: %v", now, err)
		}
		if i%bEvery == 0 {
			if err := b.Maintain(ctx); err != nil {
				t.Fatalf("%s: B: %v", now, err)
			}
		}
		for _, r := range []*Keyring{a, b} {
			for _, kid := range kidsIn(t, r.JWKS()) {
				if _, ok := firstSeen[r][kid]; !ok {
					firstSeen[r][kid] = now
				}
				if r == a {
					lastSeenA[kid] = now
				}
			}
		}
		for _, info := range a.Keys() {
			activation[info.KID] = info.ActivatesAt
		}
		for _, r := range []*Keyring{a, b} {
			tok := mustSign(t, r, claims)
			kid := header(t, tok)["kid"].(string)
			if _, ok := firstSign[kid]; !ok {
				firstSign[kid] = now
			}
			tokens = append(tokens, token{tok, now})
		}
		// Tokens live MaxTokenTTL; check each at the last step before it expires.
		keep := tokens[:0]
		for _, tk := range tokens {
			if now.Add(step).Before(tk.signedAt.Add(testMaxTTL)) {
				keep = append(keep, tk)
				continue
			}
			for name, r := range map[string]*Keyring{"A": a, "B": b} {
				if _, err := verifyWithJWKS(tk.tok, r.JWKS()); err != nil {
					t.Fatalf("%s: a token signed at %s, not yet expired, fails against %s's JWKS: %v", now, tk.signedAt, name, err)
				}
			}
		}
		tokens = keep
		clock.Advance(step)
	}

	kids := slices.SortedFunc(func(yield func(string) bool) {
		for kid := range firstSign {
			if !yield(kid) {
				return
			}
		}
	}, func(x, y string) int { return activation[x].Compare(activation[y]) })
	if len(kids) != 4 {
		t.Fatalf("keys that signed: got %d, want 4 (the first and three rotations)", len(kids))
	}

	t.Run("every next key is in the JWKS at least PublishAhead before it first signs", func(t *testing.T) {
		for _, kid := range kids[1:] {
			if got := firstSign[kid].Sub(firstSeen[a][kid]); got < testPublishAhead {
				t.Errorf("key %s: in A's JWKS %s before it signed, want at least %s", kid, got, testPublishAhead)
			}
			// B publishes a key within one of its refresh intervals.
			if got := firstSign[kid].Sub(firstSeen[b][kid]); got < testPublishAhead-bEvery*step {
				t.Errorf("key %s: in B's JWKS %s before it signed, want at least %s", kid, got, testPublishAhead-bEvery*step)
			}
		}
	})

	t.Run("keys take over every RotationPeriod, late by at most one maintenance interval", func(t *testing.T) {
		for i := 1; i < len(kids); i++ {
			if got := activation[kids[i]].Sub(activation[kids[i-1]]); got < testRotation || got > testRotation+step {
				t.Errorf("key %d activated %s after key %d, want %s to %s", i, got, i-1, testRotation, testRotation+step)
			}
		}
	})

	t.Run("a superseded key leaves the JWKS after the next key's activation + MaxTokenTTL, and is deleted", func(t *testing.T) {
		for i, kid := range kids[:len(kids)-1] {
			retire := activation[kids[i+1]].Add(testMaxTTL)
			if last := lastSeenA[kid]; last.Before(retire) || !last.Before(retire.Add(clockSkew+step)) {
				t.Errorf("key %s: last in the JWKS at %s, want in [%s, %s)", kid, last, retire, retire.Add(clockSkew+step))
			}
			if _, ok := st.row(kid); ok {
				t.Errorf("key %s: retired at %s, still in the store at %s", kid, retire.Add(clockSkew), clock.Now())
			}
		}
		if _, ok := st.row(firstKID); ok {
			t.Error("the first key was never deleted")
		}
	})
}

func TestFirstKeyIsActiveAtOnce(t *testing.T) {
	clock := newFakeClock()
	st := newFakeStore()
	kek := testKEK(t)
	k := mustNew(t, st, testOptions(clock, kek, ES256))
	keys := k.Keys()
	if len(keys) != 1 || keys[0].State != KeyActive {
		t.Fatalf("after New on an empty store: got %+v, want one active key", keys)
	}
	if got := clock.Now().Sub(keys[0].ActivatesAt); got != clockSkew {
		t.Errorf("first key activation: %s before now, want back-dated by %s", got, clockSkew)
	}
	if got := k.ActiveKeyAge(); got != clockSkew {
		t.Errorf("ActiveKeyAge: got %s, want %s", got, clockSkew)
	}
	t.Run("a replica whose clock is up to a minute behind agrees", func(t *testing.T) {
		behind := &fakeClock{t: clock.Now().Add(-50 * time.Second)}
		r := mustNew(t, st, testOptions(behind, kek, ES256))
		if got := header(t, mustSign(t, r, claims))["kid"]; got != keys[0].KID {
			t.Errorf("signed with %v, want %s", got, keys[0].KID)
		}
	})
}

func TestTokenSignedBeforeRotationVerifiesAfter(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	k := mustNew(t, newFakeStore(), testOptions(clock, testKEK(t), ES256))
	old := k.Keys()[0].KID
	clock.Advance(testRotation - testPublishAhead)
	if err := k.Maintain(ctx); err != nil {
		t.Fatal(err)
	}
	clock.Advance(testPublishAhead - time.Second)
	tok := mustSign(t, k, claims) // the last second of the old key
	if got := header(t, tok)["kid"]; got != old {
		t.Fatalf("signed with %v a second before rotation, want the old key %s", got, old)
	}
	clock.Advance(time.Second)
	if err := k.Maintain(ctx); err != nil {
		t.Fatal(err)
	}
	if got := header(t, mustSign(t, k, claims))["kid"]; got == old {
		t.Fatal("still signing with the old key after rotation")
	}
	clock.Advance(testMaxTTL - time.Second) // the token's last second
	if err := k.Maintain(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Verify(tok); err != nil {
		t.Errorf("a token signed before rotation fails just before it expires: %v", err)
	}
	if _, err := verifyWithJWKS(tok, k.JWKS()); err != nil {
		t.Errorf("a token signed before rotation fails against the JWKS just before it expires: %v", err)
	}
	clock.Advance(time.Second + clockSkew)
	if _, err := k.Verify(tok); err == nil {
		t.Error("a token from a key that retired since the last refresh still verifies")
	}
	if err := k.Maintain(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Verify(tok); err == nil {
		t.Error("a token from the retired key still verifies")
	}
	if slices.Contains(kidsIn(t, k.JWKS()), old) {
		t.Error("the retired key is still published")
	}
}

func TestConcurrentReplicas(t *testing.T) {
	ctx := context.Background()

	t.Run("replicas starting together on an empty store create one key", func(t *testing.T) {
		clock := newFakeClock()
		st := newFakeStore()
		st.d.listDelay = 2 * time.Millisecond
		kek := testKEK(t)
		rings := make([]*Keyring, 4)
		var wg sync.WaitGroup
		for i := range rings {
			wg.Go(func() {
				k, err := New(ctx, st, testOptions(clock, kek, ES256))
				if err != nil {
					t.Error(err)
				}
				rings[i] = k
			})
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		if got := st.count(); got != 1 {
			t.Fatalf("keys created: got %d, want 1", got)
		}
		for i, k := range rings {
			if err := k.Refresh(ctx); err != nil {
				t.Fatal(err)
			}
			if got, want := header(t, mustSign(t, k, claims))["kid"], header(t, mustSign(t, rings[0], claims))["kid"]; got != want {
				t.Errorf("replica %d signs with %v, replica 0 with %v", i, got, want)
			}
		}
	})

	t.Run("two replicas maintaining at once create exactly one next key and switch together", func(t *testing.T) {
		clock := newFakeClock()
		st := newFakeStore()
		kek := testKEK(t)
		a := mustNew(t, st, testOptions(clock, kek, ES256))
		b := mustNew(t, st, testOptions(clock, kek, ES256))
		first := a.Keys()[0].KID
		st.d.listDelay = 2 * time.Millisecond
		clock.Advance(testRotation - testPublishAhead)

		start := make(chan struct{})
		var wg sync.WaitGroup
		for _, k := range []*Keyring{a, b} {
			wg.Go(func() {
				<-start
				if err := k.Maintain(ctx); err != nil {
					t.Error(err)
				}
			})
		}
		close(start)
		wg.Wait()
		if got := st.count(); got != 2 {
			t.Fatalf("keys after concurrent maintenance: got %d, want 2 (one next key)", got)
		}
		for _, k := range []*Keyring{a, b} {
			if err := k.Refresh(ctx); err != nil {
				t.Fatal(err)
			}
		}
		clock.Advance(testPublishAhead - time.Microsecond)
		if ka, kb := header(t, mustSign(t, a, claims))["kid"], header(t, mustSign(t, b, claims))["kid"]; ka != first || kb != first {
			t.Errorf("just before activation: A signs with %v, B with %v, want both %s", ka, kb, first)
		}
		clock.Advance(time.Microsecond)
		ka, kb := header(t, mustSign(t, a, claims))["kid"], header(t, mustSign(t, b, claims))["kid"]
		if ka != kb || ka == first {
			t.Errorf("at activation: A signs with %v, B with %v, want both the next key", ka, kb)
		}
	})
}

func TestAlgorithmChangePrePublishesAKeyOfTheNewAlgorithm(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	st := newFakeStore()
	kek := testKEK(t)
	mustNew(t, st, testOptions(clock, kek, ES256))
	clock.Advance(time.Hour) // well within the rotation period

	// The operator changes keys.algorithm and restarts.
	k := mustNew(t, st, testOptions(clock, kek, RS256))
	keys := k.Keys()
	if len(keys) != 2 || keys[1].Algorithm != RS256 || keys[1].State != KeyPending {
		t.Fatalf("after the change: got %+v, want the ES256 key active and an RS256 key pending", keys)
	}
	if got, want := keys[1].ActivatesAt, clock.Now().Add(testPublishAhead); !got.Equal(want) {
		t.Errorf("RS256 key activates at %s, want now + PublishAhead = %s", got, want)
	}
	if got := header(t, mustSign(t, k, claims))["alg"]; got != ES256 {
		t.Errorf("before the new key activates, alg %v, want ES256", got)
	}
	clock.Advance(testPublishAhead)
	if err := k.Maintain(ctx); err != nil {
		t.Fatal(err)
	}
	tok := mustSign(t, k, claims)
	if got := header(t, tok)["alg"]; got != RS256 {
		t.Errorf("after activation, alg %v, want RS256", got)
	}
	if _, err := verifyWithJWKS(tok, k.JWKS()); err != nil {
		t.Error(err)
	}
	if got := st.count(); got != 2 {
		t.Errorf("keys: got %d, want 2 (no further key once the algorithm matches)", got)
	}
}

func TestRotate(t *testing.T) {
	ctx := context.Background()

	t.Run("Rotate(immediate=false) pre-publishes the next key", func(t *testing.T) {
		clock := newFakeClock()
		st := newFakeStore()
		k := mustNew(t, st, testOptions(clock, testKEK(t), ES256))
		old := k.Keys()[0].KID
		clock.Advance(time.Hour)
		info, err := k.Rotate(ctx, false)
		if err != nil {
			t.Fatal(err)
		}
		if info.State != KeyPending || !info.ActivatesAt.Equal(clock.Now().Add(testPublishAhead)) {
			t.Errorf("got %+v, want a pending key activating at now + PublishAhead", info)
		}
		if !slices.Contains(kidsIn(t, k.JWKS()), info.KID) {
			t.Error("the new key is not published")
		}
		if got := header(t, mustSign(t, k, claims))["kid"]; got != old {
			t.Errorf("signs with %v right after rotation, want the old key", got)
		}
		again, err := k.Rotate(ctx, false)
		if err != nil {
			t.Fatal(err)
		}
		if again.KID != info.KID || st.count() != 2 {
			t.Errorf("a second rotation while a key is pending: got %s and %d keys, want %s and 2", again.KID, st.count(), info.KID)
		}
		clock.Advance(testPublishAhead)
		if got := header(t, mustSign(t, k, claims))["kid"]; got != info.KID {
			t.Errorf("signs with %v after PublishAhead, want the new key %s", got, info.KID)
		}
		keys := k.Keys()
		if keys[0].RetiresAt == nil || !keys[0].RetiresAt.Equal(info.ActivatesAt.Add(testMaxTTL+clockSkew)) {
			t.Errorf("old key retires at %v, want %s", keys[0].RetiresAt, info.ActivatesAt.Add(testMaxTTL+clockSkew))
		}
	})

	t.Run("Rotate(immediate=true) activates now and keeps the old key published until its tokens expire", func(t *testing.T) {
		clock := newFakeClock()
		k := mustNew(t, newFakeStore(), testOptions(clock, testKEK(t), ES256))
		clock.Advance(time.Hour)
		if _, err := k.Rotate(ctx, false); err != nil { // a pending key, retiring the old one later
			t.Fatal(err)
		}
		old := mustSign(t, k, claims)
		info, err := k.Rotate(ctx, true)
		if err != nil {
			t.Fatal(err)
		}
		if info.State != KeyActive {
			t.Errorf("got state %s, want active", info.State)
		}
		if got := header(t, mustSign(t, k, claims))["kid"]; got != info.KID {
			t.Errorf("signs with %v right after an immediate rotation, want %s", got, info.KID)
		}
		if _, err := k.Verify(old); err != nil {
			t.Errorf("a token of the replaced key fails at once: %v", err)
		}
		var replaced KeyInfo
		for _, ki := range k.Keys() {
			if ki.KID == header(t, old)["kid"] {
				replaced = ki
			}
		}
		if want := clock.Now().Add(testMaxTTL + clockSkew); replaced.RetiresAt == nil || !replaced.RetiresAt.Equal(want) {
			t.Errorf("replaced key retires at %v, want now + MaxTokenTTL + skew = %s (earlier than the pending key had set)", replaced.RetiresAt, want)
		}
		clock.Advance(testMaxTTL + clockSkew)
		if err := k.Maintain(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := k.Verify(old); err == nil {
			t.Error("a token of the replaced key still verifies after its retirement")
		}
	})

	t.Run("an immediate rotation in the microsecond a scheduled key activates never ties with it", func(t *testing.T) {
		clock := newFakeClock()
		k := mustNew(t, newFakeStore(), testOptions(clock, testKEK(t), ES256))
		// A tie in activation would go by kid, that is by chance; the new
		// key activates a microsecond after the key it replaces instead.
		for i := range 10 {
			scheduled, err := k.Rotate(ctx, false)
			if err != nil {
				t.Fatal(err)
			}
			clock.Set(scheduled.ActivatesAt)
			info, err := k.Rotate(ctx, true)
			if err != nil {
				t.Fatal(err)
			}
			clock.Advance(time.Microsecond)
			if got := header(t, mustSign(t, k, claims))["kid"]; got != info.KID {
				t.Fatalf("rotation %d: signs with %v, want the operator's key %s", i, got, info.KID)
			}
		}
	})
}

func TestLongerMaxTokenTTLExtendsRetirementNeverShortens(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	st := newFakeStore()
	kek := testKEK(t)
	short := mustNew(t, st, testOptions(clock, kek, ES256))
	old := short.Keys()[0].KID
	next, err := short.Rotate(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	retiresAt := func() time.Time {
		t.Helper()
		r, ok := st.row(old)
		if !ok || r.RetiresAt == nil {
			t.Fatalf("old key: present %v, retirement %v", ok, r.RetiresAt)
		}
		return *r.RetiresAt
	}
	if got, want := retiresAt(), next.ActivatesAt.Add(testMaxTTL+clockSkew); !got.Equal(want) {
		t.Fatalf("retirement: got %s, want %s", got, want)
	}
	o := testOptions(clock, kek, ES256)
	o.MaxTokenTTL = 3 * testMaxTTL
	mustNew(t, st, o) // a replica configured with longer tokens
	want := next.ActivatesAt.Add(3*testMaxTTL + clockSkew)
	if got := retiresAt(); !got.Equal(want) {
		t.Errorf("after a replica with a 3× longer MaxTokenTTL: retirement %s, want %s", got, want)
	}
	if err := short.Maintain(ctx); err != nil {
		t.Fatal(err)
	}
	if got := retiresAt(); !got.Equal(want) {
		t.Errorf("after the shorter replica's maintenance: retirement %s, want it left at %s", got, want)
	}
}

func TestKeyStates(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	k := mustNew(t, newFakeStore(), testOptions(clock, testKEK(t), ES256))
	if _, err := k.Rotate(ctx, false); err != nil {
		t.Fatal(err)
	}
	states := func() []KeyState {
		var s []KeyState
		for _, ki := range k.Keys() {
			s = append(s, ki.State)
		}
		return s
	}
	check := func(when string, want ...KeyState) {
		t.Helper()
		if got := states(); !slices.Equal(got, want) {
			t.Errorf("%s: got %v, want %v", when, got, want)
		}
	}
	check("after Rotate", KeyActive, KeyPending)
	clock.Advance(testPublishAhead)
	check("after PublishAhead", KeyRetiring, KeyActive)
	clock.Advance(testMaxTTL + clockSkew)
	check("after MaxTokenTTL + skew, before maintenance", KeyRetired, KeyActive)
	clock.Advance(time.Second) // the store deletes keys retired strictly before now
	if err := k.Maintain(ctx); err != nil {
		t.Fatal(err)
	}
	check("after maintenance", KeyActive)
	listed, err := ListKeys(ctx, k.st, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(listed) != 1 || listed[0].State != KeyActive {
		t.Errorf("ListKeys: got %+v, want one active key", listed)
	}
}
