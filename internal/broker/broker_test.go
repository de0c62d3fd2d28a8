package broker

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRedact(t *testing.T) {
	t.Parallel()
	in := "nats://user:canary-pass@a:4222, nats://canary-token@b:4222,nats://c:4222"
	out := redact(in)
	if strings.Contains(out, "canary") {
		t.Errorf("redact(%q) = %q", in, out)
	}
	if !strings.Contains(out, "@a:4222") || !strings.Contains(out, "nats://c:4222") {
		t.Errorf("redact lost the hosts: %q", out)
	}
}

func TestEmbeddedRandomPortAndRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	e, err := StartEmbedded(EmbeddedConfig{Addr: "127.0.0.1:0", StoreDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	nc, err := Connect(context.Background(), Config{URL: e.ClientURL(), Token: e.Token(), Name: "test"}, false, log, Hooks{})
	if err != nil {
		e.Shutdown()
		t.Fatalf("Connect: %v", err)
	}
	nc.Close()
	e.Shutdown()
	e2, err := StartEmbedded(EmbeddedConfig{Addr: "127.0.0.1:0", StoreDir: dir})
	if err != nil {
		t.Fatalf("restart on the same store: %v", err)
	}
	defer e2.Shutdown()
	if e2.Token() != e.Token() {
		t.Error("restart on the same store generated a new token")
	}
}

func TestConnectFailsFastWithOneLine(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	_, err = Connect(context.Background(), Config{URL: "nats://u:canary-pass@" + addr}, false, log, Hooks{})
	if err == nil {
		t.Fatal("Connect to a closed port succeeded")
	}
	if msg := err.Error(); strings.Contains(msg, "\n") || strings.Contains(msg, "canary") || !strings.Contains(msg, addr) {
		t.Errorf("error %q: want one line naming %s without the password", msg, addr)
	}
}
