package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"crmsync/internal/account"
	"crmsync/internal/broker"
	"crmsync/internal/config"
	"crmsync/internal/jobs"
	"crmsync/internal/metrics"
)

// Main is the worker program: Run serves until ctx is done, Close releases
// what Run started. End-to-end tests run it on :0 with a temp store dir.
type Main struct {
	cfg     *config.Config
	sandbox bool
	log     *slog.Logger
	reg     *prometheus.Registry
	metrics *metrics.Metrics
	ready   readiness

	dlqEvery time.Duration // how often crmsync_dead_letter_depth is sampled
	gc       string        // how the garbage collector is tuned (tuneGC), for the start log line

	// Set by Run, for tests.
	httpAddr chan string   // receives the HTTP listener's address once serving
	natsURL  chan string   // receives the URL of the embedded server, if one is started
	bound    chan struct{} // closed once the streams and consumer are bound
	running  chan struct{} // closed once the runner starts pulling jobs

	profiles map[string]account.Profile
	sb       *sandbox
	live     *live // onboarded accounts and the callback (onboarding.go)
	console  consoleState

	embedded *broker.Embedded
	nc       *nats.Conn
	httpSrv  *http.Server
	closers  []func() error
}

// NewMain prepares a worker from a validated configuration; logs go to w.
// In sandbox mode it applies the sandbox's defaults to cfg first (its own
// store dir, generous rate limits; see config.ApplySandbox).
func NewMain(cfg *config.Config, sandbox bool, w io.Writer) *Main {
	lvl, _ := config.ParseLevel(cfg.LogLevel)
	var h slog.Handler
	hopts := &slog.HandlerOptions{Level: lvl}
	if cfg.LogFormat == "json" {
		h = slog.NewJSONHandler(w, hopts)
	} else {
		h = slog.NewTextHandler(w, hopts)
	}
	log := slog.New(h)
	if sandbox {
		log = log.With("sandbox", true)
		cfg.ApplySandbox()
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return &Main{
		cfg: cfg, sandbox: sandbox, log: log, reg: reg, metrics: metrics.New(reg),
		dlqEvery: dlqEvery,
		httpAddr: make(chan string, 1), natsURL: make(chan string, 1), bound: make(chan struct{}), running: make(chan struct{}),
	}
}

// Run starts the HTTP server, NATS (embedded or dialled), the streams and
// the runner, and serves until ctx is done; then it shuts down gracefully.
// It returns nil after a clean shutdown.
func (m *Main) Run(ctx context.Context) error {
	if m.sandbox && !m.cfg.Embedded() {
		// A shared broker would hand real jobs to the fakes (and sandbox
		// jobs to real workers): the sandbox keeps to its own store.
		return &config.Error{Var: "NATS_URL", Reason: "is set, but the sandbox runs only on its own embedded server (it would take real jobs from that NATS and run them against the fakes): unset NATS_URL for -sandbox"}
	}
	if m.sandbox {
		m.sb = startSandbox()
		m.closers = append(m.closers, m.sb.Close)
		m.profiles = m.sb.profile()
		c := m.cfg
		m.log.Info("SANDBOX MODE: fake APIs with seeded state; nothing leaves this machine",
			"klicktipp", m.sb.kt.URL, "klipy", m.sb.kl.URL, "clickyid", m.sb.ci.URL,
			"rate_limits", fmt.Sprintf("klicktipp %g/s burst %d, klipy %g/s burst %d, clickyid %g/s burst %d (sandbox defaults, still enforced; KLICKTIPP_RATE, KLIPY_RATE, CLICKYID_RATE and the _BURST variables override them)",
				c.KlickTippRate, c.KlickTippBurst, c.KlipyRate, c.KlipyBurst, c.ClickyIDRate, c.ClickyIDBurst))
	} else {
		p, err := profiles(m.cfg)
		if err != nil {
			return err
		}
		if err := checkProfiles(m.cfg, p, false); err != nil {
			return err
		}
		if len(p) == 0 {
			m.log.Warn("no API credentials configured: every job will be dead-lettered (set KLICKTIPP_*, KLIPY_API_KEY, CLICKYID_API_KEY or ACCOUNTS_FILE, or run with -sandbox)")
		}
		m.profiles = p
	}
	if err := m.setupConsole(); err != nil {
		return err
	}
	if err := m.serveHTTP(); err != nil {
		return err
	}
	if err := m.connect(); err != nil {
		return err
	}
	js, err := jetstream.New(m.nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	cons, err := m.bind(ctx, js)
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped before NATS came up: a clean exit
		}
		return err
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	wg.Go(func() { m.sampleDeadLetters(sctx, js) })
	m.startConsole(ctx, js)
	return m.work(ctx, js, cons)
}

func (m *Main) serveHTTP() error {
	ln, err := net.Listen("tcp", m.cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("HTTP_ADDR %s: %w", m.cfg.HTTPAddr, err)
	}
	m.httpSrv = &http.Server{
		Handler:           routes(m.reg, &m.ready, m.consoleRoutes()),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	m.httpAddr <- ln.Addr().String()
	paths := "/healthz /readyz /metrics"
	if m.sb != nil {
		paths += " /sandbox/klicktipp/subscribers /sandbox/klipy/people /sandbox/clickyid /sandbox/klicktipp/grantapiaccess/<id>"
	}
	if m.console.c != nil {
		paths += " /console/"
	} else {
		m.log.Info("console off: " + m.console.off)
	}
	m.log.Info("http listening", "addr", ln.Addr().String(), "paths", paths)
	go func() {
		if err := m.httpSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.log.Error("http server stopped", "err", err)
		}
	}()
	return nil
}

func (m *Main) hooks() broker.Hooks {
	return broker.Hooks{
		Connected: func() {
			m.ready.reached()
			m.metrics.NATSConnected.Set(1)
		},
		Disconnected: func(error) { m.metrics.NATSConnected.Set(0) },
		Reconnected: func() {
			m.metrics.NATSConnected.Set(1)
			m.metrics.NATSReconnects.Inc()
		},
	}
}

func (m *Main) connect() error {
	c := m.cfg
	if c.Embedded() {
		use := "worker"
		if m.sandbox {
			use = "sandbox"
		}
		e, err := broker.StartEmbedded(broker.EmbeddedConfig{
			Addr: c.EmbeddedNATSAddr, StoreDir: c.EmbeddedNATSStore, Token: c.EmbeddedNATSToken, Use: use,
		})
		var ue *broker.StoreUseError
		if errors.As(err, &ue) {
			return &config.Error{Var: "EMBEDDED_NATS_STORE", Reason: err.Error()}
		}
		if err != nil {
			return fmt.Errorf("EMBEDDED_NATS_ADDR=%s: %w", c.EmbeddedNATSAddr, err)
		}
		m.embedded = e
		m.natsURL <- e.ClientURL()
		auth := "token in " + filepath.Join(c.EmbeddedNATSStore, broker.TokenFile)
		if c.EmbeddedNATSToken != "" {
			auth = "token from EMBEDDED_NATS_TOKEN"
		}
		m.ready.where(e.ClientURL())
		m.log.Info("embedded nats started", "url", e.ClientURL(), "store", c.EmbeddedNATSStore, "auth", auth)
		nc, err := broker.ConnectEmbedded(e, "crmsync-worker", m.log, m.hooks())
		if err != nil {
			return fmt.Errorf("connecting to embedded nats: %w", err)
		}
		m.nc = nc
	} else {
		m.ready.where(broker.Redact(c.NATSURL))
		nc, err := broker.Connect(context.Background(), broker.Config{
			URL: c.NATSURL, Creds: c.NATSCreds, NKey: c.NATSNKey, User: c.NATSUser, Password: c.NATSPassword,
			CA: c.NATSCA, Cert: c.NATSCert, Key: c.NATSKey, Name: "crmsync-worker",
		}, true, m.log, m.hooks())
		if err != nil {
			return err
		}
		m.nc = nc
	}
	if m.nc.IsConnected() {
		m.metrics.NATSConnected.Set(1)
	}
	m.ready.set(m.nc, false, "")
	return nil
}

// bind creates or updates the streams and the consumer, retrying with
// backoff until it succeeds or ctx is done (NATS may not be up yet).
func (m *Main) bind(ctx context.Context, js jetstream.JetStream) (jetstream.Consumer, error) {
	sc := jobs.StreamConfig{
		DuplicateWindow: m.cfg.DuplicateWindow, ResultsMaxAge: m.cfg.ResultsMaxAge, DLQMaxAge: m.cfg.DLQMaxAge,
		Replicas: m.cfg.StreamReplicas, AckWait: m.cfg.AckWait,
		JobsMaxBytes: m.cfg.JobsMaxBytes, ResultsMaxBytes: m.cfg.ResultsMaxBytes, DLQMaxBytes: m.cfg.DLQMaxBytes,
	}
	cons, err := retry(ctx, m, "streams", func(ctx context.Context) (jetstream.Consumer, error) {
		if why := m.ready.unreached(); why != "" {
			return nil, errors.New(why) // asking would only time out
		}
		cons, err := jobs.Setup(ctx, js, sc)
		if err != nil {
			m.ready.set(m.nc, false, "binding streams: "+err.Error())
		}
		return cons, err
	})
	if err != nil {
		return nil, err
	}
	m.ready.set(m.nc, true, "")
	close(m.bound)
	m.log.Info("streams bound", "streams", []string{jobs.JobsStream, jobs.ResultsStream, jobs.DLQStream}, "consumer", jobs.Consumer)
	return cons, nil
}

// retry calls fn (with a 5 s timeout each: on a cluster, replicas creating
// the same stream at once can get no answer at all, and a create is
// idempotent, so asking again soon is cheap) until it succeeds or ctx is
// done, backing off from 250 ms to 10 s and logging each failure.
func retry[T any](ctx context.Context, m *Main, what string, fn func(context.Context) (T, error)) (T, error) {
	delay := 250 * time.Millisecond
	for {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		v, err := fn(sctx)
		cancel()
		if err == nil {
			return v, nil
		}
		m.log.Warn("cannot set up "+what+" yet; retrying", "err", err, "retry_in", delay)
		select {
		case <-ctx.Done():
			var zero T
			return zero, ctx.Err()
		case <-time.After(delay):
		}
		delay = min(delay*2, 10*time.Second)
	}
}

// Close stops the HTTP server, drains NATS and shuts the embedded server
// down, in that order. It is safe to call after a failed Run.
func (m *Main) Close() error {
	var errs []error
	for i := len(m.closers) - 1; i >= 0; i-- {
		errs = append(errs, m.closers[i]())
	}
	if m.httpSrv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		errs = append(errs, m.httpSrv.Shutdown(ctx))
		cancel()
	}
	if m.nc != nil {
		m.drain()
	}
	if m.embedded != nil {
		m.embedded.Shutdown()
		m.log.Info("embedded nats stopped")
	}
	return errors.Join(errs...)
}

// drain flushes pending publishes and closes the connection, waiting at most 10 s.
func (m *Main) drain() {
	closed := make(chan struct{})
	m.nc.SetClosedHandler(func(*nats.Conn) { close(closed) })
	if err := m.nc.Drain(); err != nil {
		m.nc.Close()
		return
	}
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		m.nc.Close()
	}
}
