package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"crmsync/internal/broker"
	"crmsync/internal/config"
)

// logBuffer is an io.Writer safe for the worker's goroutines and the test.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func storeOf(env []string) string {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "EMBEDDED_NATS_STORE="); ok {
			return v
		}
	}
	return ""
}

// The embedded server refuses a connection without its token or with a
// wrong one; the token generated into the store lets a client in.
func TestEmbeddedRequiresItsToken(t *testing.T) {
	env := baseEnv(t)
	b := start(t, env)
	url := recv(t, b.m.natsURL, "the embedded server's URL")
	for name, opts := range map[string][]nats.Option{"no token": nil, "wrong token": {nats.Token("guess")}} {
		if nc, err := nats.Connect(url, opts...); err == nil {
			nc.Close()
			t.Errorf("%s: connected to the embedded server", name)
		} else if !errors.Is(err, nats.ErrAuthorization) {
			t.Errorf("%s: %v, want an authorization violation", name, err)
		}
	}
	tok, err := broker.ReadStoreToken(storeOf(env))
	if err != nil {
		t.Fatalf("generated token: %v", err)
	}
	nc, err := nats.Connect(url, nats.Token(tok))
	if err != nil {
		t.Fatalf("with the generated token: %v", err)
	}
	nc.Close()
}

func TestEmbeddedTokenFromEnv(t *testing.T) {
	env := append(baseEnv(t), "EMBEDDED_NATS_TOKEN=tok-from-env-1")
	b := start(t, env)
	nc, err := nats.Connect(recv(t, b.m.natsURL, "the embedded server's URL"), nats.Token("tok-from-env-1"))
	if err != nil {
		t.Fatalf("EMBEDDED_NATS_TOKEN refused: %v", err)
	}
	nc.Close()
}

// A real worker refuses a store the sandbox used, and the reverse, with
// one line naming EMBEDDED_NATS_STORE (exit 2).
func TestSandboxAndWorkerNeverShareAStore(t *testing.T) {
	env := baseEnv(t)
	b := startMode(t, env, true)
	b.stop(t)
	for _, sandbox := range []bool{false, true} {
		cfg, err := config.Load(env)
		if err != nil {
			t.Fatal(err)
		}
		if sandbox {
			// a store a real worker used, for the sandbox to be refused
			env2 := baseEnv(t)
			b := startMode(t, env2, false)
			b.stop(t)
			if cfg, err = config.Load(env2); err != nil {
				t.Fatal(err)
			}
		}
		m := NewMain(cfg, sandbox, &logBuffer{})
		err = m.Run(context.Background())
		_ = m.Close()
		var ce *config.Error
		if !errors.As(err, &ce) || ce.Var != "EMBEDDED_NATS_STORE" || strings.Contains(err.Error(), "\n") {
			t.Fatalf("sandbox=%v on the other's store: %v, want one EMBEDDED_NATS_STORE line", sandbox, err)
		}
		if !strings.Contains(err.Error(), "last used by the") {
			t.Errorf("error %q does not say who used the store", err)
		}
	}
}

// EMBEDDED_NATS_ADDR already in use fails at once, naming the variable.
func TestEmbeddedAddrInUseFailsAtOnce(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	env := append(baseEnv(t), "EMBEDDED_NATS_ADDR="+ln.Addr().String())
	cfg, err := config.Load(env)
	if err != nil {
		t.Fatal(err)
	}
	m := NewMain(cfg, false, &logBuffer{})
	done := make(chan error, 1)
	go func() { done <- m.Run(context.Background()) }()
	select {
	case err := <-done:
		_ = m.Close()
		if err == nil || !strings.Contains(err.Error(), "EMBEDDED_NATS_ADDR") || !strings.Contains(err.Error(), ln.Addr().String()) {
			t.Errorf("Run on a taken EMBEDDED_NATS_ADDR: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run on a taken EMBEDDED_NATS_ADDR still starting after 5s")
	}
}

// An unreachable NATS_URL is named (without its password) and said to be
// never reached, in the log and on /readyz, which does not say RECONNECTING.
func TestUnreachableNATSURLIsNamed(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	env := append(baseEnv(t), "NATS_URL=nats://u:canary-pw@"+addr, "NATS_USER=", "NATS_PASSWORD=")
	cfg, err := config.Load(env)
	if err != nil {
		t.Fatal(err)
	}
	log := &logBuffer{}
	m := NewMain(cfg, false, log)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not stop within 10s")
		}
		_ = m.Close()
	}()
	var httpAddr string
	select {
	case httpAddr = <-m.httpAddr:
	case err := <-done:
		t.Fatalf("Run ended: %v", err)
	case <-time.After(waitTimeout):
		t.Fatalf("HTTP listener not up within %s", waitTimeout)
	}
	// Until the first dial has failed, /readyz says it is not connected yet;
	// wait for the answer that follows the failure.
	var body string
	readyDeadline := time.After(10 * time.Second)
	for body = awaitStatus(t, "http://"+httpAddr+"/readyz", 503); !strings.Contains(body, "never reached"); body = awaitStatus(t, "http://"+httpAddr+"/readyz", 503) {
		select {
		case <-readyDeadline:
			t.Fatalf("/readyz never said the URL was never reached: %q", body)
		case <-time.After(20 * time.Millisecond):
		}
	}
	if !strings.Contains(body, addr) || !strings.Contains(body, "never reached") || strings.Contains(body, "RECONNECTING") || strings.Contains(body, "canary") {
		t.Errorf("/readyz = %q, want the URL (redacted) and 'never reached'", body)
	}
	deadline := time.After(10 * time.Second)
	for !strings.Contains(log.String(), "never reached") {
		select {
		case <-deadline:
			t.Fatalf("log never said the URL was never reached:\n%s", log)
		case <-time.After(20 * time.Millisecond):
		}
	}
	if l := log.String(); !strings.Contains(l, addr) || strings.Contains(l, "canary") || strings.Contains(l, "context deadline exceeded") {
		t.Errorf("log should name %s, without the password or a bare timeout:\n%s", addr, l)
	}
}

func TestHTTPServerHasTimeouts(t *testing.T) {
	b := start(t, baseEnv(t))
	s := b.m.httpSrv
	if s.ReadHeaderTimeout <= 0 || s.IdleTimeout <= 0 || s.ReadTimeout <= 0 {
		t.Errorf("timeouts: read header %s, read %s, idle %s", s.ReadHeaderTimeout, s.ReadTimeout, s.IdleTimeout)
	}
}

func TestSandboxSaysItsRateLimits(t *testing.T) {
	log := &logBuffer{}
	b := startLog(t, baseEnv(t), true, log)
	c := b.m.cfg
	if c.KlickTippRate != config.SandboxRate || c.ClickyIDRate != config.SandboxClickyIDRate {
		t.Errorf("sandbox rates %g, %g", c.KlickTippRate, c.ClickyIDRate)
	}
	if l := log.String(); !strings.Contains(l, "klicktipp 500/s") || !strings.Contains(l, "sandbox defaults") {
		t.Errorf("sandbox log line does not state its rate limits:\n%s", l)
	}
}

// crmsync_dead_letter_depth follows CRMSYNC_DLQ; items_total moves as
// items finish.
func TestDeadLetterDepthAndItems(t *testing.T) {
	b := startLog(t, baseEnv(t), true, io.Discard, func(m *Main) { m.dlqEvery = 20 * time.Millisecond })
	url := "http://" + b.http + "/metrics"
	awaitMetrics(t, url, "crmsync_dead_letter_depth 0", `crmsync_items_total{kind="email.validate",outcome="succeeded"} 0`)
	nc, err := nats.Connect(recv(t, b.m.natsURL, "the embedded server's URL"), nats.Token(b.m.embedded.Token()))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, body := range []string{`{not json`, `{"id":"ok-1","kind":"email.validate","emails":["a@uni.example","b@example.com","c@student.example"],"targetGroupIds":["tg_uni"]}`} {
		if _, err := js.Publish(ctx, "crmsync.jobs.email.validate", []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	awaitMetrics(t, url, "crmsync_dead_letter_depth 1", `crmsync_items_total{kind="email.validate",outcome="succeeded"} 3`)
}

// The sandbox never dials a shared NATS: it would take real jobs.
func TestSandboxRefusesNATSURL(t *testing.T) {
	cfg, err := config.Load(append(baseEnv(t), "NATS_URL=nats://127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	m := NewMain(cfg, true, &logBuffer{})
	err = m.Run(context.Background())
	_ = m.Close()
	var ce *config.Error
	if !errors.As(err, &ce) || ce.Var != "NATS_URL" {
		t.Fatalf("sandbox with NATS_URL: %v, want a NATS_URL error", err)
	}
}
