package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"authserver/config"
)

// openTestKeyring opens the keyring as serve does, which creates the first
// key on an empty database.
func openTestKeyring(t *testing.T, path string) {
	t.Helper()
	cfg, err := config.Load(path, config.MapEnv{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := openStore(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := openKeyring(context.Background(), cfg, st, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
}

// keyRow is one row of keys list.
type keyRow struct {
	kid, alg, state        string
	activates, retires     string
	activatesAt, createdAt time.Time
}

func listKeys(t *testing.T, path string) map[string]keyRow {
	t.Helper()
	code, out, stderr := cli(t, nil, "", "keys", "list", "--config", path)
	if code != 0 {
		t.Fatalf("keys list: exit %d: %s", code, stderr)
	}
	rows := map[string]keyRow{}
	for _, f := range tableRows(t, out) {
		if len(f) != 6 {
			t.Fatalf("keys list row %q: want 6 columns", f)
		}
		r := keyRow{kid: f[0], alg: f[1], state: f[2], activates: f[4], retires: f[5]}
		var err1, err2 error
		r.createdAt, err1 = time.Parse(time.RFC3339, f[3])
		r.activatesAt, err2 = time.Parse(time.RFC3339, f[4])
		if err1 != nil || err2 != nil {
			t.Fatalf("keys list row %q: times are not RFC 3339", f)
		}
		rows[r.kid] = r
	}
	return rows
}

var rotatedKID = regexp.MustCompile(`signing key (\S+) `)

func rotate(t *testing.T, path string, args ...string) (kid, out string) {
	t.Helper()
	code, out, stderr := cli(t, nil, "", append([]string{"keys", "rotate", "--config", path}, args...)...)
	if code != 0 {
		t.Fatalf("keys rotate %v: exit %d: %s", args, code, stderr)
	}
	m := rotatedKID.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("keys rotate does not name the key: %q", out)
	}
	return m[1], out
}

func near(got, want time.Time, tolerance time.Duration) bool {
	d := got.Sub(want)
	return d > -tolerance && d < tolerance
}

func TestKeysCommands(t *testing.T) {
	const publishAhead = 2 * time.Hour
	path := writeConfig(t, fmt.Sprintf("database: {dsn: %q}\nkeys: {publish_ahead: 2h, rotation_period: 30d}\n",
		filepath.Join(t.TempDir(), "k.db")))
	if code, _, stderr := cli(t, nil, "", "migrate", "--config", path); code != 0 {
		t.Fatalf("migrate: %s", stderr)
	}

	code, out, stderr := cli(t, nil, "", "keys", "list", "--config", path)
	if code != 0 || out != "" || !strings.Contains(stderr, "no signing keys yet") {
		t.Fatalf("keys list on a new database: exit %d stdout %q stderr %q", code, out, stderr)
	}

	openTestKeyring(t, path)
	keys := listKeys(t, path)
	if len(keys) != 1 {
		t.Fatalf("after the keyring opened: got %d keys, want 1: %v", len(keys), keys)
	}
	var first keyRow
	for _, k := range keys {
		first = k
	}
	if first.state != "active" || first.alg != "ES256" || first.retires != "-" {
		t.Fatalf("the first key is not active ES256 with no retirement: %+v", first)
	}

	// Rotation pre-publishes a key for keys.publish_ahead.
	before := time.Now()
	pending, out := rotate(t, path)
	if !strings.HasPrefix(out, "created signing key "+pending) || !strings.Contains(out, "activates at") {
		t.Errorf("keys rotate: %q", out)
	}
	keys = listKeys(t, path)
	if len(keys) != 2 || keys[pending].state != "pending" || keys[first.kid].state != "active" {
		t.Fatalf("after keys rotate: want the first key active and %s pending, got %v", pending, keys)
	}
	if got := keys[pending].activatesAt; !near(got, before.Add(publishAhead), time.Minute) {
		t.Errorf("the pending key activates at %s, want about now + publish_ahead (%s)", got, before.Add(publishAhead).UTC())
	}
	if keys[first.kid].retires == "-" {
		t.Error("the active key's retirement was not scheduled")
	}

	// A second rotation while a key is pending adds nothing.
	again, out := rotate(t, path)
	if again != pending || !strings.Contains(out, "already pending") || len(listKeys(t, path)) != 2 {
		t.Errorf("a second rotation: got %q and %d keys", out, len(listKeys(t, path)))
	}

	// --immediately makes a new key active at once.
	now, out := rotate(t, path, "--immediately")
	if now == pending || now == first.kid || !strings.Contains(out, "signs from now on") {
		t.Fatalf("keys rotate --immediately: %q", out)
	}
	keys = listKeys(t, path)
	if keys[now].state != "active" || keys[first.kid].state != "retiring" {
		t.Fatalf("after --immediately: want %s active and %s retiring, got %v", now, first.kid, keys)
	}
	if !near(keys[now].activatesAt, time.Now(), time.Minute) {
		t.Errorf("the immediate key activates at %s, not now", keys[now].activatesAt)
	}

	// Listing reads no key material; rotating refuses a KEK that cannot
	// open the keys, in one line.
	wrong := config.MapEnv{"AUTHSERVER_KEYS_ENCRYPTION_KEY": randomKEK(t)}
	if code, out, stderr := cli(t, wrong, "", "keys", "list", "--config", path); code != 0 || len(tableRows(t, out)) != 3 {
		t.Errorf("keys list with another KEK: exit %d stdout %q stderr %q", code, out, stderr)
	}
	code, out, stderr = cli(t, wrong, "", "keys", "rotate", "--config", path)
	oneErrorLine(t, "keys rotate with the wrong KEK", code, out, stderr)
	if len(listKeys(t, path)) != 3 {
		t.Error("keys rotate with the wrong KEK changed the keys")
	}
}
