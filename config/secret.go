package config

import "log/slog"

// Secret is a configuration value that must never be printed: its String,
// GoString, slog and JSON forms are a fixed mask. Reveal returns the value.
type Secret string

const redacted = "[REDACTED]"

// Reveal returns the secret value itself.
func (s Secret) Reveal() string { return string(s) }

// String masks the value so that %v and %s never print it.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString masks the value for %#v.
func (s Secret) GoString() string { return s.String() }

// LogValue masks the value in slog output.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText masks the value when the configuration is encoded.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }
