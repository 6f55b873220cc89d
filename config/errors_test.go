package config

import (
	"errors"
	"testing"
)

func TestProblemFormat(t *testing.T) {
	tests := []struct {
		name string
		p    Problem
		want string
	}{
		{"path and message", Problem{Path: "log.level", Message: "must be info"}, "log.level: must be info"},
		{"with a line", Problem{Path: "log.level", Line: 3, Message: "must be info"}, "log.level: must be info (line 3)"},
		{"whole file", Problem{Line: 1, Message: "invalid YAML: x"}, "invalid YAML: x (line 1)"},
	}
	for _, tt := range tests {
		if got := tt.p.String(); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestErrorsListsOneProblemPerLine(t *testing.T) {
	var err error = &Errors{Problems: []Problem{{Path: "a", Message: "x"}, {Path: "b.c[0]", Line: 2, Message: "y"}}}
	if got, want := err.Error(), "a: x\nb.c[0]: y (line 2)"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	var errs *Errors
	if !errors.As(err, &errs) || len(errs.Problems) != 2 {
		t.Errorf("errors.As: got %v", errs)
	}
	if (&Errors{}).err() != nil {
		t.Error("err() of no problems is not nil")
	}
}

func TestKeyPaths(t *testing.T) {
	tests := []struct{ got, want string }{
		{key("", "http"), "http"},
		{key("http", "addr"), "http.addr"},
		{index(key("bootstrap", "clients"), 2), "bootstrap.clients[2]"},
		{key("http", "a.b"), `http["a.b"]`},
		{key("", ""), `[""]`},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

func FuzzLoad(f *testing.F) {
	for _, s := range []string{
		"",
		"http: {addr: [1]}",
		"bootstrap:\n  organizations:\n    - name: a\n      users: [{username: u, roles: [{role: r}]}]\n",
		"a: &a {b: *a}",
		"<<: {issuer: x}",
		"keys: {rotation_period: 1d}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		var c Config
		var errs Errors
		decodeYAML(doc, &c, &errs) // must not panic
		_ = validate(&c, false)
	})
}
