package main

import (
	"bytes"
	"context"
	"sync"
	"testing"

	"authserver/bootstrap"
	"authserver/config"
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
	if _, err := bootstrap.Apply(context.Background(), st, cfg.Bootstrap, bootstrap.Options{}); err != nil {
		t.Fatal(err)
	}
}
