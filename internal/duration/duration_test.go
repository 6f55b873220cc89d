package duration

import (
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
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
		got, err := Parse(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("Parse(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
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
			got, err := Parse(tt.in)
			if err == nil {
				t.Fatalf("Parse(%q) = %v, want an error", tt.in, got)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("Parse(%q) error %q, want it to contain %q", tt.in, err, tt.msg)
			}
		})
	}
}

func TestFormat(t *testing.T) {
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
		if got := Format(tt.in); got != tt.want {
			t.Errorf("Format(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestFormatReadsBack(t *testing.T) {
	for _, d := range []time.Duration{
		0, 1, 999, time.Microsecond, time.Second, 59 * time.Second, time.Minute + time.Nanosecond,
		25 * time.Hour, 30 * 24 * time.Hour, 365*24*time.Hour + 7*time.Hour + 3*time.Minute + 1500*time.Millisecond,
		1<<63 - 1,
	} {
		s := Format(d)
		got, err := Parse(s)
		if err != nil || got != d {
			t.Errorf("Parse(Format(%d) = %q) = %v, %v; want %d", int64(d), s, got, err, int64(d))
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"0", "365d", "1d12h", "90m", "1.5h", "-1d", "1d1d", "106751d23h", "µs"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := Parse(s)
		if err != nil {
			return
		}
		if d < 0 {
			t.Fatalf("Parse(%q) = %v, negative", s, d)
		}
		back, err := Parse(Format(d))
		if err != nil || back != d {
			t.Fatalf("%q: %v formats as %q, which reads back as %v, %v", s, d, Format(d), back, err)
		}
	})
}
