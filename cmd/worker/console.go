package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"crmsync/internal/account"
	"crmsync/internal/console"
	"crmsync/internal/jobs"
	"crmsync/internal/limiter"
	"crmsync/internal/vault"
)

// consoleState is the worker's side of the operator console: the console
// itself (nil when off) and the heartbeat goroutine.
type consoleState struct {
	c      *console.Console
	off    string // why the console is off
	cancel context.CancelFunc
	wg     sync.WaitGroup
	js     atomic.Pointer[jetstream.JetStream] // set once bound, for the accounts page
}

// setupConsole builds the console when it is enabled: CONSOLE_PASSWORD is
// set, or sandbox mode on a loopback HTTP_ADDR (then it is open). A short
// password was refused by config.Load already.
func (m *Main) setupConsole() error {
	c := m.cfg
	switch {
	case c.ConsolePassword != "":
	case m.sandbox && loopback(c.HTTPAddr):
	case m.sandbox:
		m.console.off = "set CONSOLE_PASSWORD (sandbox mode opens it without one only on a loopback HTTP_ADDR)"
		return nil
	default:
		m.console.off = "set CONSOLE_PASSWORD (or CONSOLE_PASSWORD_FILE) to enable it"
		return nil
	}
	con, err := console.New(console.Config{
		Password: c.ConsolePassword, ReadOnly: c.ConsoleReadOnly, SessionTTL: c.ConsoleSessionTTL,
		Accounts:    console.AccountsFunc(m.consoleAccounts),
		Revoker:     revoker{m},
		Credentials: m.consoleCredentials,
		Logger:      m.log,
	})
	if err != nil {
		return err
	}
	m.console.c = con
	return nil
}

// consoleRoutes adds /console/ to the sandbox's routes: the console, or a
// 404 saying how to turn it on.
func (m *Main) consoleRoutes() map[string]http.Handler {
	out := map[string]http.Handler{}
	for k, v := range m.sandboxRoutes() {
		out[k] = v
	}
	if m.console.c != nil {
		out[console.Prefix] = m.console.c
		out["GET /console"] = http.RedirectHandler(console.Prefix, http.StatusMovedPermanently)
		return out
	}
	why := m.console.off
	out[console.Prefix] = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "the console is off: "+why, http.StatusNotFound)
	})
	return out
}

// startConsole hands the console its JetStream and starts this replica's
// heartbeat in CRMSYNC_REPLICAS (kept whether or not the console is on
// here, so that every console sees every replica). Close stops it.
func (m *Main) startConsole(ctx context.Context, js jetstream.JetStream) {
	if m.console.c != nil {
		m.console.c.SetJetStream(js)
	}
	m.console.js.Store(&js)
	ctx, cancel := context.WithCancel(ctx)
	m.console.cancel = cancel
	m.closers = append(m.closers, func() error { cancel(); m.console.wg.Wait(); return nil })
	r := console.Replica{ID: replicaID(), PID: os.Getpid(), Version: version(), Started: time.Now().UTC(), Console: m.console.c != nil}
	r.Host, _ = os.Hostname()
	m.console.wg.Go(func() {
		var kv jetstream.KeyValue
		for {
			sctx, scancel := context.WithTimeout(ctx, 5*time.Second)
			var err error
			kv, err = console.EnsureReplicas(sctx, js, m.cfg.StreamReplicas)
			scancel()
			if err == nil {
				break
			}
			m.log.Warn("cannot set up the heartbeat bucket yet; retrying", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(15 * time.Second):
			}
		}
		console.Heartbeat(ctx, kv, r, func() (bool, string) { return m.sample(ctx, js) }, m.log)
	})
}

// sample runs before each heartbeat: it says whether this replica is ready
// and sets crmsync_ready and crmsync_credential_blocked_seconds (the
// fleet's blocks, from CRMSYNC_LIMITS, so every replica reports the same:
// alert on their max).
func (m *Main) sample(ctx context.Context, js jetstream.JetStream) (bool, string) {
	why := m.ready.check()
	if why == "" {
		m.metrics.Ready.Set(1)
	} else {
		m.metrics.Ready.Set(0)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	now := time.Now()
	if limits, err := console.Limits(ctx, js, nil, now); err == nil {
		m.metrics.CredentialBlocked.Reset()
		for _, l := range limits {
			if !l.BlockedUntil.IsZero() {
				m.metrics.CredentialBlocked.WithLabelValues(l.API, l.ID).Set(l.BlockedUntil.Sub(now).Seconds())
			}
		}
	}
	return why == "", why
}

// loopback reports whether addr (host:port) listens on loopback only.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func replicaID() string {
	h, _ := os.Hostname()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	if h == "" {
		h = "worker"
	}
	return h + "-" + hex.EncodeToString(b)
}

func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

// consoleAccounts lists the accounts without a secret: this replica's
// configured ones (name, API, auth mode, where it came from), then those
// granted through onboarding (bucket CRMSYNC_ACCOUNTS, read without the
// master key), which the console may revoke.
func (m *Main) consoleAccounts(ctx context.Context) ([]console.Account, error) {
	out := m.configuredAccounts()
	v, err := m.vault(ctx)
	if err != nil || v == nil {
		return out, err
	}
	granted, err := v.List(ctx)
	if err != nil {
		return out, err
	}
	for _, e := range granted {
		out = append(out, console.Account{Name: e.Name, API: "klicktipp", Mode: "partner (customer key granted through onboarding)",
			Source: vault.Bucket, Status: "granted", Detail: "user " + e.Username, Created: "granted " + e.GrantedAt.UTC().Format(time.RFC3339), Revoke: true})
	}
	return out, nil
}

// vault returns the onboarding store without a master key (listing and
// revoking need none), or nil when there is no bucket or no NATS yet.
func (m *Main) vault(ctx context.Context) (*vault.Vault, error) {
	p := m.console.js.Load()
	if p == nil {
		return nil, nil
	}
	kv, err := (*p).KeyValue(ctx, vault.Bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return vault.New(kv, nil), nil
}

// revoker revokes onboarded accounts for the console (as `enqueue accounts
// revoke` does); every replica's watch drops the account within seconds.
type revoker struct{ m *Main }

func (r revoker) Revoke(ctx context.Context, name string) error {
	v, err := r.m.vault(ctx)
	if err != nil {
		return err
	}
	if v == nil {
		return fmt.Errorf("account %q: no onboarded accounts (no bucket %s)", name, vault.Bucket)
	}
	return v.Revoke(ctx, name)
}

// configuredAccounts lists this replica's configured accounts.
func (m *Main) configuredAccounts() []console.Account {
	source := "ACCOUNTS_FILE"
	var out []console.Account
	for _, name := range sortedNames(m.profiles) {
		p := m.profiles[name]
		src := source
		switch {
		case m.sandbox:
			src = "sandbox"
		case name == jobs.DefaultAccount && fromEnv(m.cfg):
			src = "environment"
		}
		if k := p.KlickTipp; k != nil {
			mode := "session (username + password)"
			if k.DeveloperKey != "" {
				mode = "partner (developer + customer key)"
			}
			out = append(out, console.Account{Name: name, API: "klicktipp", Mode: mode, Source: src, Detail: "user " + k.Username})
		}
		if p.Klipy != nil {
			out = append(out, console.Account{Name: name, API: "klipy", Mode: "API key", Source: src})
		}
		if p.ClickyID != nil {
			out = append(out, console.Account{Name: name, API: "clickyid", Mode: "API key", Source: src})
		}
	}
	return out
}

// consoleCredentials names each credential's key in CRMSYNC_LIMITS (the
// limiter's own API and ID, from a local limiter that is closed at once)
// with the accounts using it and its configured budget.
func (m *Main) consoleCredentials() []console.Credential {
	d := defaults(m.cfg)
	byKey := map[string]*console.Credential{}
	var keys []string
	add := func(account, api, credential string, rate float64, burst int) {
		l, err := limiter.New(limiter.Config{API: api, Credential: credential, Rate: rate, Burst: burst})
		if err != nil {
			return
		}
		_ = l.Close()
		key := l.API() + "." + l.ID()
		c := byKey[key]
		if c == nil {
			c = &console.Credential{Key: key, API: api, Rate: rate, Burst: max(burst, 1)}
			byKey[key] = c
			keys = append(keys, key)
		}
		c.Accounts = append(c.Accounts, account)
	}
	for _, name := range sortedNames(m.profiles) {
		p := m.profiles[name]
		if k := p.KlickTipp; k != nil {
			add(name, "klicktipp", k.Username, orF(k.Rate, d.KlickTippRate), orI(k.Burst, d.KlickTippBurst))
		}
		if k := p.Klipy; k != nil {
			add(name, "klipy", k.APIKey, orF(k.Rate, d.KlipyRate), orI(k.Burst, d.KlipyBurst))
		}
		if k := p.ClickyID; k != nil {
			add(name, "clickyid", k.APIKey, orF(k.Rate, d.ClickyIDRate), orI(k.Burst, d.ClickyIDBurst))
		}
	}
	out := make([]console.Credential, 0, len(keys))
	for _, k := range keys {
		out = append(out, *byKey[k])
	}
	return out
}

func sortedNames(p map[string]account.Profile) []string {
	names := make([]string, 0, len(p))
	for n := range p {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func orF(a, b float64) float64 {
	if a > 0 {
		return a
	}
	return b
}

func orI(a, b int) int {
	if a > 0 {
		return a
	}
	return b
}
