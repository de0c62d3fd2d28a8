package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"crmsync/internal/broker"
)

// enqueue dials the worker's embedded server with the token the worker
// generated into its store; a wrong EMBEDDED_NATS_TOKEN is refused with a
// line saying so.
func TestEnqueueFindsTheEmbeddedToken(t *testing.T) {
	store := t.TempDir()
	srv, err := broker.StartEmbedded(broker.EmbeddedConfig{Addr: "127.0.0.1:0", StoreDir: store, Use: "worker"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	addr := strings.TrimPrefix(srv.ClientURL(), "nats://")
	e := &env{dir: t.TempDir()}
	file := e.write(t, "c.csv", "email\nann@example.com\n")
	run := func(environ ...string) (int, string) {
		var out, errb bytes.Buffer
		m := &Main{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Environ: environ, ProgressEvery: time.Hour}
		code := m.Run(context.Background(), []string{"contacts", "-target", "klicktipp", file})
		t.Logf("-> %d\n%s%s", code, out.String(), errb.String())
		return code, errb.String()
	}
	if code, _ := run("EMBEDDED_NATS_ADDR="+addr, "EMBEDDED_NATS_STORE="+store); code != 0 {
		t.Fatalf("with the generated token: exit %d, want 0", code)
	}
	if code, _ := run("EMBEDDED_NATS_ADDR="+addr, "EMBEDDED_NATS_TOKEN="+srv.Token()); code != 0 {
		t.Fatalf("with EMBEDDED_NATS_TOKEN: exit %d, want 0", code)
	}
	code, stderr := run("EMBEDDED_NATS_ADDR="+addr, "EMBEDDED_NATS_TOKEN=wrong-token-canary")
	if code != exitNATS || !strings.Contains(stderr, "refused the token") || strings.Contains(stderr, "canary") {
		t.Errorf("wrong token: exit %d, %q", code, stderr)
	}
}

// With no token anywhere, the refusal says where enqueue looked.
func TestEnqueueWithoutAnyToken(t *testing.T) {
	srv, err := broker.StartEmbedded(broker.EmbeddedConfig{Addr: "127.0.0.1:0", StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	var out, errb bytes.Buffer
	m := &Main{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, ProgressEvery: time.Hour,
		Environ: []string{"EMBEDDED_NATS_ADDR=" + strings.TrimPrefix(srv.ClientURL(), "nats://"), "EMBEDDED_NATS_STORE=" + t.TempDir()}}
	if code := m.Run(context.Background(), []string{"status", "x"}); code != exitNATS || !strings.Contains(errb.String(), "wants a token") {
		t.Errorf("exit %d, %q", code, errb.String())
	}
}
