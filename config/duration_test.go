package config

import (
	"encoding/json"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

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
