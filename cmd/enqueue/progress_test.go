package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// Both progress renderers run to completion and leave no goroutine
// behind (goleak in TestMain).
func TestProgressRenderers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var b strings.Builder
	b.WriteString("email\n")
	for i := 0; i < 2000; i++ {
		b.WriteString("p" + strings.Repeat("x", i%7) + itoa(i%100) + "@example.com\n")
	}
	p := e.write(t, "p.csv", b.String())
	for _, terminal := range []bool{true, false} {
		var out, errb bytes.Buffer
		m := &Main{Stdout: &out, Stderr: &errb, Environ: []string{"NATS_URL=" + e.srv.URL()}, Terminal: terminal, ProgressEvery: time.Millisecond}
		if code := m.Run(context.Background(), []string{"contacts", "-target", "klipy", "-batch", "1", "-id", "p" + map[bool]string{true: "t", false: "f"}[terminal], p}); code != 0 {
			t.Fatalf("terminal=%v: exit %d\n%s", terminal, code, errb.String())
		}
		if !strings.Contains(errb.String(), "enqueue p") {
			t.Errorf("terminal=%v: no progress shown: %q", terminal, errb.String())
		}
	}
}
