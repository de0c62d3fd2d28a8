package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// broker is one embedded JetStream server on loopback with its own store,
// started fresh for every measured run so no run sees another's state. It
// keeps NATS's default 1 MB max payload, as a stock nats-server has.
type broker struct {
	srv *server.Server
	URL string
	nc  *nats.Conn
	js  jetstream.JetStream
}

func startBroker(dir string) (*broker, error) {
	srv, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: dir,
		NoSigs: true, NoLog: true,
	})
	if err != nil {
		return nil, err
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return nil, fmt.Errorf("nats server not ready")
	}
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		srv.Shutdown()
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		srv.Shutdown()
		return nil, err
	}
	return &broker{srv: srv, URL: srv.ClientURL(), nc: nc, js: js}, nil
}

func (b *broker) Close() {
	b.nc.Close()
	b.srv.Shutdown()
	b.srv.WaitForShutdown()
}

// binaries are the programs measured, built once per bench run with the
// Dockerfile's flags (no -race).
type binaries struct {
	dir              string
	worker, enqueue  string
	self             string // this program, for the peer and bare-loop roles
	goVersion, cores string

	profiles string       // -profile: where each worker run writes its CPU profile ("": none)
	profiled atomic.Int64 // worker runs profiled so far
}

// profile returns the WORKER_CPU_PROFILE of the next worker run, and says
// so; "" without -profile.
func (b *binaries) profile() string {
	if b.profiles == "" {
		return ""
	}
	p := filepath.Join(b.profiles, fmt.Sprintf("worker-%02d.prof", b.profiled.Add(1)))
	fmt.Printf("    worker CPU profile: %s\n", p)
	return p
}

func build(dir string) (*binaries, error) {
	b := &binaries{dir: dir, worker: filepath.Join(dir, "worker"), enqueue: filepath.Join(dir, "enqueue")}
	for pkg, out := range map[string]string{"crmsync/cmd/worker": b.worker, "crmsync/cmd/enqueue": b.enqueue} {
		cmd := exec.Command("go", "build", "-trimpath", "-o", out, pkg)
		cmd.Dir = ".." // the product's own module, with its go.sum
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if o, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go build %s: %v\n%s", pkg, err, o)
		}
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	b.self = self
	return b, nil
}

// proc is a child process whose CPU time and peak RSS can be read while it
// runs (from /proc) and after it ends (from its rusage).
type proc struct {
	cmd  *exec.Cmd
	out  *os.File
	done chan struct{}
	err  error
	hwm  atomic.Int64 // VmHWM sampled from /proc while it runs
}

func startProc(logPath string, env []string, name string, args ...string) (*proc, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(name, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, err
	}
	p := &proc{cmd: cmd, out: f, done: make(chan struct{})}
	exited := make(chan struct{})
	go func() {
		// Sample the peak while the process runs: after it exits only its
		// rusage is left, whose maximum on Linux also counts the pages of
		// this process it was forked from.
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			if v := p.readHWM(); v > p.hwm.Load() {
				p.hwm.Store(v)
			}
			select {
			case <-exited:
				return
			case <-t.C:
			}
		}
	}()
	go func() { p.err = cmd.Wait(); close(exited); f.Close(); close(p.done) }()
	return p, nil
}

// cpu returns the user+system CPU time the process has used so far.
func (p *proc) cpu() time.Duration {
	select {
	case <-p.done:
		return p.cmd.ProcessState.UserTime() + p.cmd.ProcessState.SystemTime()
	default:
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// Fields after the command name (which may hold spaces) start at ")".
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ is 100 on Linux
}

// peakRSS returns the process's peak resident set (VmHWM), in bytes: read
// now while it runs, else the last sample taken before it ended (every 20 ms).
func (p *proc) peakRSS() int64 {
	if v := p.readHWM(); v > p.hwm.Load() {
		p.hwm.Store(v)
	}
	return p.hwm.Load()
}

// readHWM reads VmHWM from /proc; 0 once the process is gone.
func (p *proc) readHWM() int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// stop sends SIGTERM and waits up to d for the exit, then kills.
func (p *proc) stop(d time.Duration) error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(d):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	return p.err
}

// wait waits for the process to exit by itself within d.
func (p *proc) wait(d time.Duration) error {
	select {
	case <-p.done:
		return p.err
	case <-time.After(d):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not finish within %s", filepath.Base(p.cmd.Path), d)
	}
}

// freeAddr returns a loopback address with a free port.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// waitReady polls url until it answers 200, the process ends, or d passes.
func waitReady(p *proc, url string, d time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.done:
			return fmt.Errorf("process exited before %s was ready: %v", url, p.err)
		case <-ctx.Done():
			return fmt.Errorf("%s not ready within %s", url, d)
		case <-t.C:
		}
	}
}

// waitLine waits until the process's log file holds a line containing s.
func waitLine(p *proc, path, s string, d time.Duration) error {
	deadline := time.After(d)
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		if b, err := os.ReadFile(path); err == nil && strings.Contains(string(b), s) {
			return nil
		}
		select {
		case <-p.done:
			b, _ := os.ReadFile(path)
			return fmt.Errorf("process exited before %q: %v\n%s", s, p.err, tail(b))
		case <-deadline:
			return fmt.Errorf("no %q within %s", s, d)
		case <-t.C:
		}
	}
}

func tail(b []byte) string {
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}
