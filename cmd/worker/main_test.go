package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"crmsync/internal/broker/brokertest"
	"crmsync/internal/config"
	"crmsync/internal/jobs"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// bundle is a worker running in-process for one test.
type bundle struct {
	m      *Main
	http   string
	cancel context.CancelFunc
	done   chan error
}

func baseEnv(t *testing.T) []string {
	return []string{
		"HTTP_ADDR=127.0.0.1:0",
		"EMBEDDED_NATS_ADDR=127.0.0.1:0",
		"EMBEDDED_NATS_STORE=" + filepath.Join(t.TempDir(), "nats"),
		"LOG_LEVEL=debug",
	}
}

// start runs a Main with env and waits until it is bound to its streams.
func start(t *testing.T, env []string) *bundle { return startMode(t, env, false) }

func startMode(t *testing.T, env []string, sandbox bool) *bundle {
	t.Helper()
	return startLog(t, env, sandbox, io.Discard)
}

func startLog(t *testing.T, env []string, sandbox bool, log io.Writer, opts ...func(*Main)) *bundle {
	t.Helper()
	cfg, err := config.Load(env)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	m := NewMain(cfg, sandbox, log)
	for _, o := range opts {
		o(m)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b := &bundle{m: m, cancel: cancel, done: make(chan error, 1)}
	go func() { b.done <- m.Run(ctx) }()
	t.Cleanup(func() { b.stop(t) })
	select {
	case b.http = <-m.httpAddr:
	case err := <-b.done:
		t.Fatalf("Run ended early: %v", err)
	case <-time.After(waitTimeout):
		t.Fatalf("HTTP listener not up within %s", waitTimeout)
	}
	select {
	case <-m.running:
	case err := <-b.done:
		t.Fatalf("Run ended before the runner started: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("runner not started within 10s")
	}
	return b
}

func (b *bundle) stop(t *testing.T) {
	t.Helper()
	if b.cancel == nil {
		return
	}
	b.cancel()
	b.cancel = nil
	if err := recv(t, b.done, "Run's return after cancel"); err != nil {
		t.Errorf("Run: %v", err)
	}
	if err := b.m.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// waitTimeout bounds every wait on a channel in these tests (Run returns
// within WORKER_SHUTDOWN_GRACE, 30 s by default), so a worker that never
// signals fails its test with what it waited for instead of hanging the
// package.
const waitTimeout = 60 * time.Second

// recv receives from ch, failing the test after waitTimeout with what.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitTimeout):
		t.Fatalf("%s: nothing within %s", what, waitTimeout)
		var zero T
		return zero
	}
}

// waitFor runs wait (a Wait that blocks) and fails the test if it does not
// return within waitTimeout.
func waitFor(t *testing.T, wait func(), what string) {
	t.Helper()
	done := make(chan struct{})
	go func() { wait(); close(done) }()
	recv(t, done, what)
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// awaitStatus polls url until it answers want, for at most 10 s.
func awaitStatus(t *testing.T, url string, want int) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		code, body := get(t, url)
		if code == want {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s = %d %q, want %d", url, code, body, want)
		}
		<-tick.C
	}
}

func TestBadConfigExitsTwo(t *testing.T) {
	// An account name that cannot be a subject token (it names a lane).
	accounts := filepath.Join(t.TempDir(), "accounts.json")
	if err := os.WriteFile(accounts, []byte(`{"acme.eu": {"klipy": {"apiKey": "klipy_api_x"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, env := range [][]string{
		{"ACCOUNTS_FILE=" + accounts, "HTTP_ADDR=127.0.0.1:0"},
		{"WORKER_CONCURRENCY=abc"},
		{"NATS_URL=nats://:bad"},
		{"KLICKTIPP_BASE_URL=http://example.com"},
		{"CLICKYID_API_KEY=ck_live_nothex", "HTTP_ADDR=127.0.0.1:0"},
		{"KLICKTIPP_USERNAME=u", "KLICKTIPP_DEVELOPER_KEY=not-hex", "KLICKTIPP_CUSTOMER_KEY=c", "HTTP_ADDR=127.0.0.1:0"},
		{"KLICKTIPP_USERNAME=u", "HTTP_ADDR=127.0.0.1:0"},
		{"STREAM_REPLICAS=3", "HTTP_ADDR=127.0.0.1:0"},
		{"WORKER_CPU_PROFILE=" + filepath.Join(t.TempDir(), "no-such-dir", "cpu.prof"), "HTTP_ADDR=127.0.0.1:0"},
	} {
		if code := run(nil, env); code != 2 {
			t.Errorf("run(%v) = %d, want 2", env, code)
		}
	}
}

func TestEmbeddedServesAndReusesStreams(t *testing.T) {
	env := baseEnv(t)
	b := start(t, env)
	if code, _ := get(t, "http://"+b.http+"/healthz"); code != 200 {
		t.Fatalf("/healthz = %d", code)
	}
	if code, body := get(t, "http://"+b.http+"/readyz"); code != 200 {
		t.Fatalf("/readyz = %d %q", code, body)
	}
	if _, body := get(t, "http://"+b.http+"/metrics"); !strings.Contains(body, "crmsync_nats_connected 1") {
		t.Errorf("/metrics lacks crmsync_nats_connected 1")
	}
	created := streamCreated(t, b.m)
	b.stop(t)

	b2 := start(t, env)
	again := streamCreated(t, b2.m)
	for name, c := range created {
		if !again[name].Equal(c) {
			t.Errorf("stream %s recreated: created %v, then %v", name, c, again[name])
		}
	}
}

func streamCreated(t *testing.T, m *Main) map[string]time.Time {
	t.Helper()
	js, err := jetstream.New(m.nc)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]time.Time{}
	for _, name := range []string{jobs.JobsStream, jobs.ResultsStream, jobs.DLQStream} {
		s, err := js.Stream(context.Background(), name)
		if err != nil {
			t.Fatalf("stream %s: %v", name, err)
		}
		out[name] = s.CachedInfo().Created
	}
	return out
}

func TestExternalNATSAndReadiness(t *testing.T) {
	srv := brokertest.Start(t)
	env := append(baseEnv(t), "NATS_URL="+srv.URL())
	b := start(t, env)
	if b.m.embedded != nil {
		t.Fatal("started an embedded server although NATS_URL was set")
	}
	_, js := srv.Connect(t)
	if _, err := js.Stream(context.Background(), jobs.JobsStream); err != nil {
		t.Fatalf("stream on external server: %v", err)
	}
	awaitStatus(t, "http://"+b.http+"/readyz", 200)

	srv.Shutdown()
	body := awaitStatus(t, "http://"+b.http+"/readyz", 503)
	if !strings.Contains(body, "NATS") {
		t.Errorf("503 body %q does not say why", body)
	}
	srv.Restart()
	awaitStatus(t, "http://"+b.http+"/readyz", 200)
}

func TestSIGTERMExitsZero(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "worker")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), baseEnv(t)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	bound := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "streams bound") {
				bound <- true
				return
			}
		}
		bound <- false
	}()
	if !recv(t, bound, "the worker's 'streams bound' log line") {
		t.Fatal("worker never logged 'streams bound'")
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = io.Copy(io.Discard, stderr) }()
	var werr error
	waitFor(t, func() { werr = cmd.Wait() }, "the worker's exit after SIGTERM")
	if werr != nil {
		t.Fatalf("exit after SIGTERM: %v", werr)
	}
}
