// Package broker connects crmsync to NATS: it starts the embedded JetStream
// server when no NATS_URL is given, and dials an external server or cluster
// with the configured auth and TLS, reconnecting forever with backoff.
package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// MaxPayload is the embedded server's max message size (16 MiB), large
// enough that an oversized job still reaches the worker and is dead-lettered
// with a reason instead of being refused at publish time.
const MaxPayload = 16 << 20

// Embedded is an in-process NATS server with JetStream that accepts only
// clients presenting its token.
type Embedded struct {
	srv   *server.Server
	token string
}

// EmbeddedConfig configures StartEmbedded.
type EmbeddedConfig struct {
	// Addr is host:port to listen on; port 0 or -1 picks a free one.
	Addr string
	// StoreDir holds the JetStream store; it is created (0750) if missing.
	StoreDir string
	// Token is what every client must present. Empty: the token kept in
	// <StoreDir>/auth.token, generated there (0600) the first time.
	Token string
	// Use names who runs the server ("worker" or "sandbox"). When set, it
	// is recorded in <StoreDir>/crmsync.use, and a store last used by
	// another Use is refused with a *StoreUseError.
	Use string
}

// StartEmbedded starts a NATS server with JetStream listening on cfg.Addr
// and storing under cfg.StoreDir, with token auth. It fails at once when
// the address is taken, else waits up to 10 s for the server to accept
// connections. Restarting on the same StoreDir keeps the streams and the
// generated token.
func StartEmbedded(cfg EmbeddedConfig) (*Embedded, error) {
	host, portStr, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: address %q: %w", cfg.Addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: port %q is not a number", portStr)
	}
	if port == 0 {
		port = -1 // 0 means the default 4222 to nats-server; we mean "any"
	}
	if err := os.MkdirAll(cfg.StoreDir, 0o750); err != nil {
		return nil, fmt.Errorf("embedded nats: store dir: %w", err)
	}
	if cfg.Use != "" {
		if err := claimStore(cfg.StoreDir, cfg.Use); err != nil {
			return nil, err
		}
	}
	token := cfg.Token
	if token == "" {
		if token, err = StoreToken(cfg.StoreDir); err != nil {
			return nil, err
		}
	}
	if port > 0 {
		// nats-server only logs a failed listen (and we run it without a
		// log), so ReadyForConnections would wait its full 10 s.
		ln, err := net.Listen("tcp", cfg.Addr)
		if err != nil {
			return nil, fmt.Errorf("embedded nats: cannot listen on %s: %w (is another worker or NATS server running there?)", cfg.Addr, errors.Unwrap(err))
		}
		ln.Close()
	}
	opts := &server.Options{
		ServerName:    "crmsync-embedded",
		Host:          host,
		Port:          port,
		JetStream:     true,
		StoreDir:      cfg.StoreDir,
		MaxPayload:    MaxPayload,
		Authorization: token,
		NoSigs:        true,
		NoLog:         true,
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		srv.WaitForShutdown()
		return nil, fmt.Errorf("embedded nats: not ready after 10s on %s (is the port in use?)", cfg.Addr)
	}
	return &Embedded{srv: srv, token: token}, nil
}

// Token is the token clients must present (nats.Token). It is secret.
func (e *Embedded) Token() string { return e.token }

// ClientURL is the URL other processes (enqueue, publishers) connect to.
func (e *Embedded) ClientURL() string { return e.srv.ClientURL() }

// Server returns the underlying server.
func (e *Embedded) Server() *server.Server { return e.srv }

// Shutdown stops the server and waits until it has stopped.
func (e *Embedded) Shutdown() {
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
}

// Config says how to reach NATS. Paths are files on disk; Password is secret.
type Config struct {
	URL      string // one or more comma-separated URLs
	Creds    string // .creds file (JWT + seed)
	NKey     string // nkey seed file
	User     string
	Password string
	Token    string // secret; what the embedded server requires
	CA       string // CA bundle for the server's certificate
	Cert     string // client certificate (mutual TLS), with Key
	Key      string
	Name     string // connection name shown by the server
}

// Hooks are called on connection events; any may be nil.
type Hooks struct {
	Connected    func()
	Disconnected func(err error)
	Reconnected  func()
}

// Options builds the nats.Options for cfg: auth, TLS, and, when forever is
// true, reconnect forever with exponential backoff (100 ms doubling to 10 s,
// with jitter), including when the first connect fails.
func Options(cfg Config, forever bool, log *slog.Logger, h Hooks) ([]nats.Option, error) {
	opts := []nats.Option{nats.Name(cfg.Name), nats.Timeout(5 * time.Second)}
	switch {
	case cfg.Creds != "":
		opts = append(opts, nats.UserCredentials(cfg.Creds))
	case cfg.NKey != "":
		o, err := nats.NkeyOptionFromSeed(cfg.NKey)
		if err != nil {
			return nil, fmt.Errorf("NATS_NKEY: %w", err)
		}
		opts = append(opts, o)
	case cfg.User != "":
		opts = append(opts, nats.UserInfo(cfg.User, cfg.Password))
	}
	if cfg.Token != "" {
		opts = append(opts, nats.Token(cfg.Token))
	}
	if cfg.CA != "" {
		opts = append(opts, nats.RootCAs(cfg.CA))
	}
	if cfg.Cert != "" {
		opts = append(opts, nats.ClientCert(cfg.Cert, cfg.Key))
	}
	if forever {
		opts = append(opts,
			nats.MaxReconnects(-1),
			nats.RetryOnFailedConnect(true),
			nats.CustomReconnectDelay(backoff),
			nats.ReconnectBufSize(8<<20),
		)
	}
	opts = append(opts,
		nats.ConnectHandler(func(*nats.Conn) {
			log.Info("nats connected")
			if h.Connected != nil {
				h.Connected()
			}
		}),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", "err", err)
			} else {
				log.Info("nats disconnected")
			}
			if h.Disconnected != nil {
				h.Disconnected(err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("nats reconnected", "server", redact(nc.ConnectedUrl()))
			if h.Reconnected != nil {
				h.Reconnected()
			}
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			if sub != nil {
				log.Warn("nats async error", "subject", sub.Subject, "err", err)
				return
			}
			log.Warn("nats async error", "err", err)
		}),
	)
	return opts, nil
}

func backoff(attempts int) time.Duration {
	d := 100 * time.Millisecond
	for i := 1; i < attempts && d < 10*time.Second; i++ {
		d *= 2
	}
	d = min(d, 10*time.Second)
	return d/2 + rand.N(d/2+1)
}

// Connect dials NATS. With forever false it fails fast with a one-line error
// (for CLIs); with forever true it returns at once and keeps trying in the
// background (for the worker).
func Connect(ctx context.Context, cfg Config, forever bool, log *slog.Logger, h Hooks) (*nats.Conn, error) {
	opts, err := Options(cfg, forever, log, h)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	nc, err := nats.Connect(cfg.URL, opts...)
	if err != nil {
		if errors.Is(err, nats.ErrNoServers) {
			return nil, fmt.Errorf("cannot reach NATS at %s (is it running? set NATS_URL)", redact(cfg.URL))
		}
		return nil, fmt.Errorf("NATS at %s: %w", redact(cfg.URL), err)
	}
	return nc, nil
}

// ConnectEmbedded connects in-process to an embedded server.
func ConnectEmbedded(e *Embedded, name string, log *slog.Logger, h Hooks) (*nats.Conn, error) {
	opts, err := Options(Config{Name: name, Token: e.token}, true, log, h)
	if err != nil {
		return nil, err
	}
	opts = append(opts, nats.InProcessServer(e.srv))
	return nats.Connect("", opts...)
}
