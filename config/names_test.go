package config

import "testing"

func TestClosest(t *testing.T) {
	keys := []string{"issuer", "http", "telemetry", "database", "keys", "tokens", "log", "console", "bootstrap"}
	tests := []struct {
		word, want string
	}{
		{"isuer", "issuer"},
		{"htpp", "http"},
		{"Database", "database"},
		{"telemtry", "telemetry"},
		{"compression", ""},
		{"x", ""},
		{"lg", "log"},
	}
	for _, tt := range tests {
		if got := closest(tt.word, keys); got != tt.want {
			t.Errorf("closest(%q) = %q, want %q", tt.word, got, tt.want)
		}
	}
}
