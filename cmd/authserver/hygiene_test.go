package main

import (
	"strings"
	"testing"
)

// emailOf reads a user's stored e-mail address.
func emailOf(t *testing.T, path, org, username string) string {
	t.Helper()
	u, _ := storedUser(t, path, org, username)
	return u.Email
}

// TestOrgSettingsHygieneFlags: org settings shows and changes the expiry
// notice days and the idle revocation time, under governance's rules, and
// refuses bad values by flag without repeating them.
func TestOrgSettingsHygieneFlags(t *testing.T) {
	path := roleSetup(t)
	out := ok(t, path, "org", "settings", "--org", "acme", "--expiry-notice-days", "3, 14", "--pat-idle-revoke-after", "90d")
	if !strings.HasSuffix(out, "expiry_notice_days: 14,3\npat_idle_revoke_after: 90d\n") {
		t.Fatalf("changed: %q", out)
	}
	// Other flags leave them as they are.
	if out := ok(t, path, "org", "settings", "--org", "acme", "--pat-max-lifetime", "30d"); !strings.HasSuffix(out, "expiry_notice_days: 14,3\npat_idle_revoke_after: 90d\n") {
		t.Fatalf("kept: %q", out)
	}
	if out := ok(t, path, "org", "settings", "--org", "acme", "--expiry-notice-days", "none", "--pat-idle-revoke-after", "0"); !strings.HasSuffix(out, "expiry_notice_days: none\npat_idle_revoke_after: 0 (never)\n") {
		t.Fatalf("off: %q", out)
	}
	for _, c := range []struct {
		name   string
		args   []string
		want   string
		hidden string
	}{
		{"not numbers", []string{"--expiry-notice-days", "7,soon-ish"}, "--expiry-notice-days: must be whole days", "soon-ish"},
		{"a day out of range", []string{"--expiry-notice-days", "400"}, "--expiry-notice-days: each day must be", "400"},
		{"too many days", []string{"--expiry-notice-days", "1,2,3,4,5,6"}, "--expiry-notice-days: must list at most 5 days", ""},
		{"a bad duration", []string{"--pat-idle-revoke-after", "soon-ish"}, "--pat-idle-revoke-after: must be a duration", "soon-ish"},
		{"under a day", []string{"--pat-idle-revoke-after", "2h"}, "--pat-idle-revoke-after: must be 0 (never) or at least 1d", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, out, stderr := cli(t, nil, "", append([]string{"org", "settings", "--config", path, "--org", "acme"}, c.args...)...)
			oneErrorLine(t, c.name, code, out, stderr)
			if !strings.Contains(stderr, c.want) || c.hidden != "" && strings.Contains(stderr, c.hidden) {
				t.Errorf("stderr %q, want %q without %q", stderr, c.want, c.hidden)
			}
		})
	}
	if out := ok(t, path, "org", "settings", "--org", "acme"); !strings.HasSuffix(out, "expiry_notice_days: none\npat_idle_revoke_after: 0 (never)\n") {
		t.Fatalf("refusals changed the settings: %q", out)
	}
}

// TestUserEmailCommands: user create --email and user set-email store the
// address under governance's rule; a bad address is refused by flag
// without repeating it.
func TestUserEmailCommands(t *testing.T) {
	path := roleSetup(t)
	ok(t, path, "user", "create", "--org", "acme", "--username", "frank", "--no-password", "--email", "frank@example.com")
	if e := emailOf(t, path, "acme", "frank"); e != "frank@example.com" {
		t.Fatalf("created with %q", e)
	}
	if out := ok(t, path, "user", "set-email", "--org", "acme", "--user", "frank", "--email", "f@example.org"); out != "e-mail address of frank set\n" {
		t.Fatalf("set-email: %q", out)
	}
	if e := emailOf(t, path, "acme", "frank"); e != "f@example.org" {
		t.Fatalf("changed to %q", e)
	}
	if out := ok(t, path, "user", "set-email", "--org", "acme", "--user", "frank", "--remove"); out != "user frank has no e-mail address\n" {
		t.Fatalf("remove: %q", out)
	}
	if e := emailOf(t, path, "acme", "frank"); e != "" {
		t.Fatalf("removed, still %q", e)
	}
	for _, c := range []struct {
		name   string
		args   []string
		want   string
		hidden string
	}{
		{"a display name", []string{"user", "set-email", "--org", "acme", "--user", "frank", "--email", "Zed <zed@corp.test>"}, "--email: must be a single e-mail address", "zed"},
		{"two addresses", []string{"user", "set-email", "--org", "acme", "--user", "frank", "--email", "zed@corp.test,eve@corp.test"}, "--email: must be a single e-mail address", "zed"},
		{"an empty address", []string{"user", "set-email", "--org", "acme", "--user", "frank", "--email", ""}, "use --remove", ""},
		{"both", []string{"user", "set-email", "--org", "acme", "--user", "frank", "--email", "a@b.test", "--remove"}, "give exactly one of --email and --remove", ""},
		{"neither", []string{"user", "set-email", "--org", "acme", "--user", "frank"}, "give exactly one of --email and --remove", ""},
		{"an unknown user", []string{"user", "set-email", "--org", "acme", "--user", "nobody", "--email", "a@b.test"}, "no user", ""},
		{"create with a bad address", []string{"user", "create", "--org", "acme", "--username", "gina", "--no-password", "--email", "zed"}, "--email: must be a single e-mail address", "zed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, out, stderr := cli(t, nil, "", append(c.args, "--config", path)...)
			oneErrorLine(t, c.name, code, out, stderr)
			if !strings.Contains(stderr, c.want) || c.hidden != "" && strings.Contains(stderr, c.hidden) {
				t.Errorf("stderr %q, want %q without %q", stderr, c.want, c.hidden)
			}
		})
	}
	if e := emailOf(t, path, "acme", "frank"); e != "" {
		t.Fatalf("refusals changed the address to %q", e)
	}
}
