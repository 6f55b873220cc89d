package names

import "testing"

func TestValidScope(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want bool
	}{
		{"one segment", "Identity", true},
		{"dotted", "OR.Jobs.Read", true},
		{"digits, dash and underscore", "svc-2.read_all", true},
		{"empty", "", false},
		{"leading dot", ".OR", false},
		{"trailing dot", "OR.", false},
		{"empty segment", "OR..Jobs", false},
		{"space", "OR Jobs", false},
		{"slash", "OR/Jobs", false},
		{"colon, as in URL-style scopes", "api:read", false},
		{"non-ASCII letter", "OR.Jöbs", false},
	}
	for _, tt := range tests {
		if got := ValidScope(tt.in); got != tt.want {
			t.Errorf("%s: ValidScope(%q) = %v, want %v", tt.name, tt.in, got, tt.want)
		}
	}
}

func TestValidFolder(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want bool
	}{
		{"empty is organization-wide", "", true},
		{"one segment", "Finance", true},
		{"nested", "Finance/Invoices/2024", true},
		{"spaces and unicode inside segments", "Ventes Europe/Île-de-France", true},
		{"leading slash", "/Finance", false},
		{"trailing slash", "Finance/", false},
		{"empty segment", "Finance//Invoices", false},
		{"only a slash", "/", false},
		{"control character", "Finance\nInvoices", false},
		{"tab", "Finance\tInvoices", false},
		{"bidi override", "Finance/\u202eInvoices", false},
		{"invalid UTF-8", "Finance/\xff", false},
	}
	for _, tt := range tests {
		if got := ValidFolder(tt.in); got != tt.want {
			t.Errorf("%s: ValidFolder(%q) = %v, want %v", tt.name, tt.in, got, tt.want)
		}
	}
}
