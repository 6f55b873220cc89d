package password

import (
	"errors"
	"runtime"
	"strings"
	"testing"
)

var cheap = Params{Memory: 64, Time: 1, Threads: 1}

func TestHashVerify(t *testing.T) {
	h, err := Hash("correct horse", cheap)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("got %q, want an argon2id PHC string", h)
	}
	if strings.Contains(h, "correct horse") {
		t.Fatal("the hash contains the password")
	}
	for _, c := range []struct {
		name, pw string
		want     bool
	}{
		{"the right password verifies", "correct horse", true},
		{"a wrong password does not", "correct horsf", false},
		{"an empty password does not", "", false},
	} {
		got, err := Verify(c.pw, h)
		if err != nil || got != c.want {
			t.Errorf("%s: got %v, %v; want %v", c.name, got, err, c.want)
		}
	}
	h2, _ := Hash("correct horse", cheap)
	if h2 == h {
		t.Error("two hashes of one password are equal: the salt is not random")
	}
}

func TestVerifyMalformed(t *testing.T) {
	for _, phc := range []string{
		"", "plain", "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=18$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=0,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=1,p=1$!!$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=999999999,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
	} {
		if _, err := Verify("x", phc); !errors.Is(err, ErrMalformed) {
			t.Errorf("Verify(%q): got %v, want ErrMalformed", phc, err)
		}
	}
}

// TestDummyCostsWhatAHashCosts: the dummy verification of a sign-in for an
// unknown user works with the parameters it is given, as a hash made with
// them does. argon2id's memory cost is what it allocates, so the bytes
// allocated tell the parameters apart without timing anything.
func TestDummyCostsWhatAHashCosts(t *testing.T) {
	allocated := func(f func()) uint64 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		f()
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	for _, p := range []Params{cheap, Default} {
		dummy := allocated(func() { Dummy("some password", p) })
		hash := allocated(func() {
			if _, err := Hash("some password", p); err != nil {
				t.Fatal(err)
			}
		})
		mem := uint64(p.Memory) * 1024
		if dummy < mem || dummy > 2*mem+1<<20 || hash < mem || hash > 2*mem+1<<20 {
			t.Errorf("m=%d KiB: the dummy allocated %d bytes and a hash %d, want both about %d", p.Memory, dummy, hash, mem)
		}
	}
}
