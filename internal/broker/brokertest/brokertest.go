// Package brokertest starts real NATS JetStream servers for tests: one per
// test, on a random loopback port, with its own store dir, shut down (and
// waited for) before the dir is removed.
package brokertest

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Server is a running embedded JetStream server. Restart keeps its port
// and store, as a broker restart in production would.
type Server struct {
	StoreDir string

	t    testing.TB
	opts []Option
	mu   sync.Mutex
	srv  *server.Server
	port int
}

// Option changes the server's options before it starts (and restarts).
type Option func(*server.Options)

// MaxPayload sets the server's max payload; the default here is 16 MiB,
// NATS's own default is 1 MiB.
func MaxPayload(n int32) Option { return func(o *server.Options) { o.MaxPayload = n } }

// Start starts a JetStream server for t on 127.0.0.1 with a random port and
// a temp store dir, changed by opts. It is shut down when the test ends,
// before the store dir is removed.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := &Server{StoreDir: t.TempDir(), t: t, port: -1, opts: opts}
	s.start()
	t.Cleanup(s.Shutdown)
	return s
}

func (s *Server) start() {
	s.t.Helper()
	opts := &server.Options{
		Host: "127.0.0.1", Port: s.port, JetStream: true, StoreDir: s.StoreDir,
		NoSigs: true, NoLog: true, MaxPayload: 16 << 20,
	}
	for _, o := range s.opts {
		o(opts)
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		s.t.Fatalf("nats server: %v", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		srv.WaitForShutdown()
		s.t.Fatalf("nats server not ready after 10s")
	}
	s.mu.Lock()
	s.srv = srv
	s.port = srv.Addr().(*net.TCPAddr).Port
	s.mu.Unlock()
	s.awaitJetStream()
}

// awaitJetStream waits until the server answers JetStream API requests, so
// a restarted server has recovered its streams before a test goes on (a
// shutdown in the middle of that recovery leaves store goroutines behind).
func (s *Server) awaitJetStream() {
	s.t.Helper()
	nc, err := nats.Connect(s.URL())
	if err != nil {
		s.t.Fatalf("connect: %v", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		s.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		if _, err := js.AccountInfo(ctx); err == nil {
			return
		} else if ctx.Err() != nil {
			s.t.Fatalf("JetStream not ready after 10s: %v", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// URL is the client URL.
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.srv.ClientURL()
}

// Inner returns the current *server.Server.
func (s *Server) Inner() *server.Server {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.srv
}

// Shutdown stops the server and waits for it. Safe to call twice.
func (s *Server) Shutdown() {
	s.mu.Lock()
	srv := s.srv
	s.mu.Unlock()
	if srv != nil {
		srv.Shutdown()
		srv.WaitForShutdown()
	}
}

// Restart shuts the server down and starts it again on the same port and
// store dir.
func (s *Server) Restart() {
	s.t.Helper()
	s.Shutdown()
	s.start()
}

// Connect returns a connection and a JetStream context, closed at test end.
func (s *Server) Connect(t testing.TB, opts ...nats.Option) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(s.URL(), opts...)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	return nc, js
}
