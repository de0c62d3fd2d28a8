package reliability

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"crmsync/internal/jobs"
)

// logBook keeps every line a process printed, in order, and wakes waiters
// when one arrives. It is safe for concurrent use.
type logBook struct {
	mu      sync.Mutex
	lines   []string
	changed chan struct{}
}

func newLogBook() *logBook { return &logBook{changed: make(chan struct{})} }

func (b *logBook) add(line string) {
	b.mu.Lock()
	b.lines = append(b.lines, line)
	close(b.changed)
	b.changed = make(chan struct{})
	b.mu.Unlock()
}

// snapshot returns the lines so far and a channel closed at the next one.
func (b *logBook) snapshot() ([]string, <-chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.lines, b.changed
}

func (b *logBook) len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.lines)
}

func (b *logBook) all() string {
	lines, _ := b.snapshot()
	return strings.Join(lines, "\n")
}

// await returns the first line at index from or later that matches, waiting
// at most d; ok is false on timeout.
func (b *logBook) await(from int, d time.Duration, match func(string) bool) (string, bool) {
	return b.awaitOr(from, d, nil, match)
}

// awaitOr is await that also gives up when abort is closed.
func (b *logBook) awaitOr(from int, d time.Duration, abort <-chan struct{}, match func(string) bool) (string, bool) {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		lines, ch := b.snapshot()
		for _, l := range lines[min(from, len(lines)):] {
			if match(l) {
				return l, true
			}
		}
		from = len(lines)
		select {
		case <-ch:
		case <-abort:
			abort = nil // one last look at the lines printed before the exit
			lines, _ := b.snapshot()
			for _, l := range lines[min(from, len(lines)):] {
				if match(l) {
					return l, true
				}
			}
			return "", false
		case <-deadline.C:
			return "", false
		}
	}
}

// logMsg matches a JSON log line by its "msg".
func logMsg(msg string) func(string) bool {
	return func(l string) bool {
		var rec struct {
			Msg string `json:"msg"`
		}
		return json.Unmarshal([]byte(strings.TrimPrefix(strings.TrimPrefix(l, "stderr: "), "stdout: ")), &rec) == nil && rec.Msg == msg
	}
}

// logAttr returns attribute key of a JSON log line.
func logAttr(l, key string) string {
	var rec map[string]any
	if json.Unmarshal([]byte(strings.TrimPrefix(strings.TrimPrefix(l, "stderr: "), "stdout: ")), &rec) != nil {
		return ""
	}
	v, _ := rec[key].(string)
	return v
}

// proc is one run of a subprocess whose stdout and stderr go to a logBook.
type proc struct {
	name   string
	cmd    *exec.Cmd
	book   *logBook
	from   int // first line of this run in book
	exited chan struct{}
	err    error // Wait's error, valid after exited
}

// startProc starts bin with exactly env (nothing inherited) and stops it
// with SIGKILL when the test ends if it is still running.
func startProc(t testing.TB, name, bin string, args, env []string, book *logBook) *proc {
	t.Helper()
	p := &proc{name: name, cmd: exec.Command(bin, args...), book: book, from: book.len(), exited: make(chan struct{})}
	p.cmd.Env = env
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	var wg sync.WaitGroup
	for prefix, r := range map[string]io.Reader{"stdout: ": stdout, "stderr: ": stderr} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sc := bufio.NewScanner(r)
			sc.Buffer(make([]byte, 64<<10), 32<<20)
			for sc.Scan() {
				book.add(prefix + sc.Text())
			}
			_, _ = io.Copy(io.Discard, r)
		}()
	}
	go func() {
		wg.Wait()
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Kill()
			select {
			case <-p.exited:
			case <-time.After(10 * time.Second):
				t.Errorf("%s (or a process holding its output) did not end within 10s of SIGKILL", p.name)
			}
		}
	})
	return p
}

// kill SIGKILLs the process and waits until it is gone.
func (p *proc) kill(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not die within 10s of SIGKILL", p.name)
	}
}

// term sends SIGTERM and waits at most d for the exit; it returns the exit
// code and how long the exit took.
func (p *proc) term(t *testing.T, d time.Duration) (int, time.Duration) {
	t.Helper()
	start := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM %s: %v", p.name, err)
	}
	select {
	case <-p.exited:
	case <-time.After(d):
		t.Fatalf("%s did not exit within %s of SIGTERM", p.name, d)
	}
	return p.cmd.ProcessState.ExitCode(), time.Since(start)
}

func (p *proc) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// worker is the worker binary, restartable with the same environment; all
// its runs log into one book.
type worker struct {
	t    *testing.T
	env  []string
	book *logBook
	p    *proc
	http string // HTTP address of the current run

	starts int
}

func newWorker(t *testing.T, env []string) *worker {
	needWorker(t)
	w := &worker{t: t, env: env, book: newLogBook()}
	// CRMSYNC_RELIABILITY_LOGS=dir keeps every worker's output.
	if dir := os.Getenv("CRMSYNC_RELIABILITY_LOGS"); dir != "" {
		t.Cleanup(func() {
			base := filepath.Join(dir, strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()))
			name := base + ".log"
			for i := 2; ; i++ { // one file per worker of the test
				if _, err := os.Stat(name); err != nil {
					break
				}
				name = fmt.Sprintf("%s.%d.log", base, i)
			}
			_ = os.WriteFile(name, []byte(w.book.all()+"\n"), 0o644)
		})
	}
	return w
}

// start runs the worker and waits until it has bound its streams.
func (w *worker) start() {
	t := w.t
	t.Helper()
	w.p = startProc(t, "worker", workerBin, nil, w.env, w.book)
	w.starts++
	l, ok := w.awaitRun("http listening", 20*time.Second)
	if !ok {
		t.Fatalf("worker did not log 'http listening' within 20s:\n%s", tail(w.book, 30))
	}
	w.http = logAttr(l, "addr")
	if _, ok := w.awaitRun("streams bound", 30*time.Second); !ok {
		t.Fatalf("worker did not bind its streams within 30s:\n%s", tail(w.book, 30))
	}
}

// awaitRun waits for a log message of the current run, giving up early if
// the process exits.
func (w *worker) awaitRun(msg string, d time.Duration) (string, bool) {
	return w.book.awaitOr(w.p.from, d, w.p.exited, logMsg(msg))
}

func (w *worker) restart() {
	w.t.Helper()
	if w.p != nil && w.p.running() {
		w.t.Fatal("restart of a running worker")
	}
	w.start()
}

func tail(b *logBook, n int) string {
	lines, _ := b.snapshot()
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// natsProc is a separate nats-server process with JetStream, restartable on
// the same store dir and port.
type natsProc struct {
	t          testing.TB
	port       int
	store      string
	user, pass string
	args       []string // more flags (a cluster node's name and routes)
	book       *logBook
	p          *proc
}

func startNATS(t testing.TB, user, pass string) *natsProc {
	t.Helper()
	n := &natsProc{t: t, port: freePort(t), store: t.TempDir(), user: user, pass: pass, book: newLogBook()}
	n.start()
	return n
}

func (n *natsProc) start() {
	t := n.t
	t.Helper()
	args := []string{"-js", "-sd", n.store, "-a", "127.0.0.1", "-p", strconv.Itoa(n.port)}
	if n.user != "" {
		args = append(args, "--user", n.user, "--pass", n.pass)
	}
	args = append(args, n.args...)
	n.p = startProc(t, "nats-server", natsServerBin(t), args, nil, n.book)
	if _, ok := n.book.await(n.p.from, 20*time.Second, func(l string) bool { return strings.Contains(l, "Server is ready") }); !ok {
		t.Fatalf("nats-server not ready within 20s:\n%s", tail(n.book, 20))
	}
}

func (n *natsProc) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.port) }

// connect dials a NATS URL from the test process, reconnecting forever
// (the broker may restart); closed when the test ends.
func connect(t testing.TB, url string, opts ...nats.Option) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	opts = append([]nats.Option{nats.MaxReconnects(-1), nats.ReconnectWait(50 * time.Millisecond), nats.RetryOnFailedConnect(true)}, opts...)
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

// message is a stream message as read by a watcher.
type message struct {
	Subject string
	Header  nats.Header
	Data    []byte
}

// watcher reads one stream from the start with an ordered consumer (which
// survives broker restarts) and keeps every message.
type watcher struct {
	mu      sync.Mutex
	msgs    []message
	changed chan struct{}
	cc      jetstream.ConsumeContext
}

func watch(t *testing.T, js jetstream.JetStream, stream string) *watcher {
	t.Helper()
	w := &watcher{changed: make(chan struct{})}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var c jetstream.Consumer
	var err error
	for {
		c, err = js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{})
		if err == nil || ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
	if err != nil {
		t.Fatalf("ordered consumer on %s: %v", stream, err)
	}
	w.cc, err = c.Consume(func(m jetstream.Msg) {
		msg := message{Subject: m.Subject(), Header: m.Headers(), Data: append([]byte(nil), m.Data()...)}
		w.mu.Lock()
		w.msgs = append(w.msgs, msg)
		close(w.changed)
		w.changed = make(chan struct{})
		w.mu.Unlock()
	})
	if err != nil {
		t.Fatalf("consume %s: %v", stream, err)
	}
	t.Cleanup(w.cc.Stop)
	return w
}

func (w *watcher) snapshot() ([]message, <-chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]message(nil), w.msgs...), w.changed
}

// await waits until cond holds for the messages so far, at most d.
func (w *watcher) await(d time.Duration, cond func([]message) bool) bool {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		msgs, ch := w.snapshot()
		if cond(msgs) {
			return true
		}
		select {
		case <-ch:
		case <-deadline.C:
			return false
		}
	}
}

// results decodes result messages by job id (several per id when a job
// published more than one result).
func results(t *testing.T, msgs []message) map[string][]jobs.Result {
	t.Helper()
	out := map[string][]jobs.Result{}
	for _, m := range msgs {
		var r jobs.Result
		if err := json.Unmarshal(m.Data, &r); err != nil {
			t.Errorf("result on %s is not JSON: %v", m.Subject, err)
			continue
		}
		if h := m.Header.Get(jobs.HeaderJobID); h != r.ID {
			t.Errorf("result header %s=%q, body id %q", jobs.HeaderJobID, h, r.ID)
		}
		out[r.ID] = append(out[r.ID], r)
	}
	return out
}

// distinctIDs counts results by job id.
func distinctIDs(msgs []message) int {
	ids := map[string]bool{}
	for _, m := range msgs {
		ids[m.Header.Get(jobs.HeaderJobID)] = true
	}
	return len(ids)
}

// publish sends one job message with a Nats-Msg-Id, retrying while the
// broker is unavailable.
func publish(t *testing.T, js jetstream.JetStream, subject string, body []byte, msgID string) *jetstream.PubAck {
	t.Helper()
	m := &nats.Msg{Subject: subject, Data: body, Header: nats.Header{}}
	if msgID != "" {
		m.Header.Set(jobs.HeaderMsgID, msgID)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ack, err := js.PublishMsg(ctx, m, jetstream.WithRetryAttempts(100), jetstream.WithRetryWait(100*time.Millisecond))
	if err != nil {
		t.Fatalf("publish %s: %v", msgID, err)
	}
	return ack
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// streamCount returns how many messages a stream holds now.
func streamCount(t *testing.T, js jetstream.JetStream, stream string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		s, err := js.Stream(ctx, stream)
		if err == nil {
			var info *jetstream.StreamInfo
			if info, err = s.Info(ctx); err == nil {
				return int(info.State.Msgs)
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("stream %s: %v", stream, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// poll checks cond every 20 ms until it holds or d passes (for fake
// counters, which have no notification).
func poll(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		<-tick.C
	}
	return true
}

// workerEnv is the environment every scenario starts from: loopback
// addresses, JSON logs, fast retries.
func workerEnv(natsURL string, extra ...string) []string {
	env := []string{
		"HTTP_ADDR=127.0.0.1:0",
		"LOG_FORMAT=json",
		"LOG_LEVEL=info",
		"WORKER_ACK_WAIT=5s",
		"WORKER_RETRY_BASE=50ms",
		"WORKER_RETRY_MAX=500ms",
		"WORKER_SHUTDOWN_GRACE=10s",
		"HTTP_TIMEOUT=5s",
		"KLICKTIPP_RATE=100000", "KLICKTIPP_BURST=100",
		"KLIPY_RATE=100000", "KLIPY_BURST=100",
		"CLICKYID_RATE=100000", "CLICKYID_BURST=100",
	}
	if natsURL != "" {
		env = append(env, "NATS_URL="+natsURL)
	}
	return append(env, extra...)
}

// scrape GETs a URL on the worker's HTTP server.
func scrape(t *testing.T, url string) string {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// writeFile writes a file in the test's temp dir and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func writeAt(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
