package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"authserver/bootstrap"
	"authserver/config"
	"authserver/internal/rfc8693"
	"authserver/storage"
)

// syncBuffer is a bytes.Buffer safe for a server goroutine to write while
// the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func applyBootstrap(t *testing.T, path string) {
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
	if _, err := bootstrap.Apply(context.Background(), storage.Narrow[bootstrap.Tx](st), cfg.Bootstrap, bootstrap.Options{}); err != nil {
		t.Fatal(err)
	}
}

// server is a serve command running in-process on free ports.
type server struct {
	base   string // the issuer: http://127.0.0.1:PORT
	stdout *syncBuffer
	stderr *syncBuffer
	stop   func()
}

// startServer runs serve with the configuration at path (whose http.addr
// and telemetry.addr must be free) plus args, and waits until it is ready.
// The test's cleanup stops it and checks that it exits cleanly.
func startServer(t *testing.T, path, httpAddr, telemetryAddr string, args ...string) *server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &server{base: "http://" + httpAddr, stdout: &syncBuffer{}, stderr: &syncBuffer{}}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append([]string{"serve", "--config", path}, args...), strings.NewReader(""), s.stdout, s.stderr, config.MapEnv{})
	}()
	var once sync.Once
	s.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case code := <-done:
				if code != 0 {
					t.Errorf("serve exited %d:\n%s", code, s.stderr.String())
				}
			case <-time.After(30 * time.Second):
				t.Errorf("serve did not stop")
			}
		})
	}
	t.Cleanup(s.stop)
	waitStatus(t, "http://"+telemetryAddr+"/readyz", http.StatusOK, s.stderr)
	return s
}

// postToken posts form to the token endpoint at base and returns the
// status and the decoded JSON answer.
func postToken(t *testing.T, base string, form url.Values) (int, map[string]any) {
	t.Helper()
	return postTokenWith(t, base, form, nil)
}

// postTokenWith is postToken with extra request headers (a DPoP proof).
func postTokenWith(t *testing.T, base string, form url.Values, header http.Header) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+"/oauth2/token", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("token endpoint answered %s with no JSON: %v", resp.Status, err)
	}
	return resp.StatusCode, body
}

// exchangeForm is the RFC 8693 request that exchanges pat for audience as
// the public client clientID.
func exchangeForm(clientID, audience, pat string) url.Values {
	return url.Values{
		"grant_type":         {rfc8693.GrantType},
		"subject_token_type": {rfc8693.TokenTypeAccessToken},
		"client_id":          {clientID},
		"audience":           {audience},
		"subject_token":      {pat},
	}
}

// randomKEK is a base64 key-encryption key for a configuration.
func randomKEK(t *testing.T) string {
	t.Helper()
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(k)
}

// tableRows splits a table printed by the CLI into rows of fields,
// without the header. Only for tables whose cells hold no spaces.
func tableRows(t *testing.T, out string) [][]string {
	t.Helper()
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) == 0 || lines[0] == "" {
		return nil
	}
	var rows [][]string
	for _, l := range lines[1:] {
		rows = append(rows, strings.Fields(l))
	}
	return rows
}

// oneErrorLine checks the failure convention: nothing on stdout, one line
// "authserver: …" on stderr.
func oneErrorLine(t *testing.T, what string, code int, stdout, stderr string) {
	t.Helper()
	if code != 1 {
		t.Errorf("%s: exit %d, want 1 (stderr %q)", what, code, stderr)
	}
	if stdout != "" {
		t.Errorf("%s: stdout %q, want nothing", what, stdout)
	}
	if !strings.HasPrefix(stderr, "authserver: ") || strings.Count(stderr, "\n") != 1 || !strings.HasSuffix(stderr, "\n") {
		t.Errorf("%s: stderr %q is not one line \"authserver: …\"", what, stderr)
	}
}
