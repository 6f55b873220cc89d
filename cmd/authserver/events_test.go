package main

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"authserver/config"
	"authserver/outbox/mail"
	"authserver/outbox/ssf"
)

func TestSinkOptionsCarryTheConfiguration(t *testing.T) {
	dir := t.TempDir()
	auth := filepath.Join(dir, "authorization")
	if err := os.WriteFile(auth, []byte("Bearer receiver-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "authserver.yaml")
	doc := `
events:
  ssf:
    timeout: 3s
    receivers:
      - name: siem
        url: https://siem.example.com/events
        audience: siem
        authorization_file: ` + auth + `
        events: [pat.revoked]
smtp:
  host: smtp.example.com
  username: notices
  from: noreply@example.com
  tls: tls
`
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path, config.MapEnv{"AUTHSERVER_SMTP_PASSWORD": "smtp-password"})
	if err != nil {
		t.Fatal(err)
	}
	s, m := sinkOptions(cfg)
	wantS := ssf.Config{Timeout: 3 * time.Second, Receivers: []ssf.Receiver{{Name: "siem", URL: "https://siem.example.com/events",
		Audience: "siem", Authorization: "Bearer receiver-token", Events: []string{"pat.revoked"}}}}
	if !reflect.DeepEqual(s, wantS) {
		t.Errorf("ssf:\ngot  %+v\nwant %+v", s, wantS)
	}
	wantM := mail.Config{Host: "smtp.example.com", Port: 465, Username: "notices", Password: "smtp-password",
		From: "noreply@example.com", TLS: "tls", Timeout: 10 * time.Second}
	if !reflect.DeepEqual(m, wantM) {
		t.Errorf("mail:\ngot  %+v\nwant %+v", m, wantM)
	}
	if o := serverOptions(cfg); !reflect.DeepEqual(o.SSF, wantS) || !reflect.DeepEqual(o.Mail, wantM) {
		t.Error("serverOptions does not carry the sinks' settings")
	}
}
