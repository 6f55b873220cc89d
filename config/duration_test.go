package config

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestParseDuration(t *testing.T) {
	const d = 24 * time.Hour
	valid := []struct {
		in   string
		want time.Duration
	}{
		{"0", 0},
		{"0d", 0},
		{"365d", 365 * d},
		{"30d", 30 * d},
		{"1d12h", d + 12*time.Hour},
		{"1d12h30m", d + 12*time.Hour + 30*time.Minute},
		{"1d500ms", d + 500*time.Millisecond},
		{"90m", 90 * time.Minute},
		{"1h30m", 90 * time.Minute},
		{"1.5h", 90 * time.Minute},
		{"36h", 36 * time.Hour},
		{"250ms", 250 * time.Millisecond},
		{"106751d", 106751 * d},
	}
	for _, tt := range valid {
		got, err := ParseDuration(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}

	invalid := []struct {
		name, in, msg string
	}{
		{"empty is not zero", "", "empty duration"},
		{"a bare number other than 0 has no unit", "30", "use Go syntax"},
		{"unknown unit", "30x", `invalid duration "30x": use Go syntax`},
		{"negative", "-5m", "must not be negative"},
		{"negative days", "-1d", "must not be negative"},
		{"negative after days", "1d-5m", "use Go syntax"},
		{"explicit plus sign", "+5m", "use Go syntax"},
		{"days must come first", "12h1d", "days must be a whole number and come first"},
		{"fractional days", "1.5d", "days must be a whole number"},
		{"days twice", "1d1d", "use Go syntax"},
		{"d alone", "d", "days must be a whole number"},
		{"spaces", " 5m", "use Go syntax"},
		{"days overflow", "106752d", "too large"},
		{"sum overflows", "106751d23h59m59s", "too large"},
		{"weeks are not a unit", "2w", "use Go syntax"},
	}
	for _, tt := range invalid {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseDuration(tt.in)
			if err == nil {
				t.Fatalf("ParseDuration(%q) = %v, want an error", tt.in, got)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("ParseDuration(%q) error %q, want it to contain %q", tt.in, err, tt.msg)
			}
		})
	}
}

func TestFormatDuration(t *testing.T) {
	const d = 24 * time.Hour
	tests := []struct {
		in   time.Duration
		want string
	}{
		{0, "0"},
		{365 * d, "365d"},
		{d, "1d"},
		{d + 12*time.Hour, "1d12h"},
		{36 * time.Hour, "1d12h"},
		{90 * time.Minute, "1h30m"},
		{5 * time.Minute, "5m"},
		{time.Hour, "1h"},
		{d + time.Second, "1d1s"},
		{150500 * time.Millisecond, "2m30.5s"},
		{250 * time.Millisecond, "250ms"},
		{time.Nanosecond, "1ns"},
		{-5 * time.Minute, "-5m0s"},
	}
	for _, tt := range tests {
		if got := FormatDuration(tt.in); got != tt.want {
			t.Errorf("FormatDuration(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestFormatDurationReadsBack(t *testing.T) {
	for _, d := range []time.Duration{
		0, 1, 999, time.Microsecond, time.Second, 59 * time.Second, time.Minute + time.Nanosecond,
		25 * time.Hour, 30 * 24 * time.Hour, 365*24*time.Hour + 7*time.Hour + 3*time.Minute + 1500*time.Millisecond,
		1<<63 - 1,
	} {
		s := FormatDuration(d)
		got, err := ParseDuration(s)
		if err != nil || got != d {
			t.Errorf("ParseDuration(FormatDuration(%d) = %q) = %v, %v; want %d", int64(d), s, got, err, int64(d))
		}
	}
}

func TestDurationInYAMLAndJSON(t *testing.T) {
	var v struct {
		TTL Duration `yaml:"ttl" json:"ttl"`
	}
	if err := yaml.Unmarshal([]byte("ttl: 1d12h\n"), &v); err != nil || v.TTL.D() != 36*time.Hour {
		t.Errorf("yaml 1d12h: got %v, %v; want 36h", v.TTL, err)
	}
	if err := yaml.Unmarshal([]byte("ttl: 0\n"), &v); err != nil || v.TTL != 0 {
		t.Errorf("yaml bare 0: got %v, %v; want 0", v.TTL, err)
	}
	if err := yaml.Unmarshal([]byte("ttl: 30\n"), &v); err == nil {
		t.Errorf("yaml bare 30: got %v, want an error rather than 30ns", v.TTL)
	}
	out, err := yaml.Marshal(struct {
		TTL Duration `yaml:"ttl"`
	}{Duration(365 * 24 * time.Hour)})
	if err != nil || string(out) != "ttl: 365d\n" {
		t.Errorf("yaml.Marshal: got %q, %v; want %q", out, err, "ttl: 365d\n")
	}

	if err := json.Unmarshal([]byte(`{"ttl":"365d"}`), &v); err != nil || v.TTL.D() != 365*24*time.Hour {
		t.Errorf("json 365d: got %v, %v", v.TTL, err)
	}
	if err := json.Unmarshal([]byte(`{"ttl":"-1h"}`), &v); err == nil {
		t.Error("json -1h: got no error, want one")
	}
	b, err := json.Marshal(struct {
		Max Duration `json:"pat_max_lifetime"`
	}{0})
	if err != nil || string(b) != `{"pat_max_lifetime":"0"}` {
		t.Errorf("json.Marshal(0): got %s, %v", b, err)
	}
	if got := Duration(90 * time.Minute).String(); got != "1h30m" {
		t.Errorf("String: got %q, want 1h30m", got)
	}
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"0", "365d", "1d12h", "90m", "1.5h", "-1d", "1d1d", "106751d23h", "µs"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			return
		}
		if d < 0 {
			t.Fatalf("ParseDuration(%q) = %v, negative", s, d)
		}
		back, err := ParseDuration(FormatDuration(d))
		if err != nil || back != d {
			t.Fatalf("%q: %v formats as %q, which reads back as %v, %v", s, d, FormatDuration(d), back, err)
		}
	})
}
