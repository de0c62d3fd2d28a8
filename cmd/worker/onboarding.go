package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"crmsync/internal/account"
	"crmsync/internal/apis"
	"crmsync/internal/apis/klicktipp/klicktipptest"
	"crmsync/internal/config"
	"crmsync/internal/jobs"
	"crmsync/internal/metrics"
	"crmsync/internal/onboarding"
	"crmsync/internal/vault"
)

// live is the onboarding side of a worker: the accounts granted through
// onboarding, kept current by a watch of CRMSYNC_ACCOUNTS, and (with
// ONBOARDING_ADDR) the callback listener.
type live struct {
	dyn     account.Dynamic
	metrics *metrics.Onboarding
	srv     *http.Server
	addr    chan string // the callback's address once listening, for tests
}

// dynamic is what the registry consults; nil without live accounts.
func (m *Main) dynamic() *account.Dynamic {
	if m.live == nil {
		return nil
	}
	return &m.live.dyn
}

// sandboxEnviron gives `worker -sandbox` the fake KlickTipp's developer
// key when onboarding is configured: the sandbox's onboarded accounts talk
// to the fake, never to KlickTipp.
func sandboxEnviron(environ []string) []string {
	on := false
	out := make([]string, 0, len(environ)+1)
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "KLICKTIPP_DEVELOPER_KEY", "KLICKTIPP_DEVELOPER_KEY_FILE":
			continue
		case "ONBOARDING_ADDR", "ACCOUNTS_MASTER_KEY", "ACCOUNTS_MASTER_KEY_FILE":
			on = on || v != ""
		}
		out = append(out, kv)
	}
	if !on {
		return environ
	}
	return append(out, "KLICKTIPP_DEVELOPER_KEY="+klicktipptest.DeveloperKey)
}

// startLive opens the accounts bucket, loads every granted account, stops
// the start when one has a name the environment or ACCOUNTS_FILE defines
// too, keeps watching for grants and revokes, and serves the callback on
// ONBOARDING_ADDR. Without ACCOUNTS_MASTER_KEY it does nothing.
func (m *Main) startLive(ctx context.Context, js jetstream.JetStream) error {
	c := m.cfg
	if !c.LiveAccounts() {
		m.warnOnboarded(ctx, js)
		return nil
	}
	if err := c.CheckOnboarding(); err != nil {
		return err
	}
	cur, err := vault.ParseMasterKey(c.AccountsMasterKey)
	if err != nil {
		return &config.Error{Var: "ACCOUNTS_MASTER_KEY", Reason: err.Error()}
	}
	var prev *vault.MasterKey
	if c.AccountsMasterKeyPrevious != "" {
		if prev, err = vault.ParseMasterKey(c.AccountsMasterKeyPrevious); err != nil {
			return &config.Error{Var: "ACCOUNTS_MASTER_KEY_PREVIOUS", Reason: err.Error()}
		}
	}
	kv, err := retry(ctx, m, "accounts bucket", func(ctx context.Context) (jetstream.KeyValue, error) {
		return vault.Ensure(ctx, js, c.StreamReplicas)
	})
	if err != nil {
		return nil // ctx done: a clean stop
	}
	v := vault.New(kv, cur, prev)
	if m.live == nil {
		m.live = &live{addr: make(chan string, 1)}
	}
	l := m.live
	l.metrics = metrics.NewOnboarding(m.reg)

	baseURL, devKey := c.KlickTippBaseURL, c.KlickTippDeveloperKey
	if m.sb != nil {
		baseURL, devKey = m.sb.kt.URL, klicktipptest.DeveloperKey
	}
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	ready := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		m.watchAccounts(wctx, v, baseURL, devKey, ready)
	}()
	m.closers = append(m.closers, func() error { cancel(); wg.Wait(); return nil })

	select {
	case <-ready:
	case <-ctx.Done():
		return nil
	}
	for _, name := range l.dyn.Names() {
		if _, dup := m.profiles[name]; dup {
			v := "ACCOUNTS_FILE"
			if name == jobs.DefaultAccount && (m.sb != nil || fromEnv(c)) {
				v = "KLICKTIPP_USERNAME"
			}
			return &config.Error{Var: v, Reason: fmt.Sprintf("account %q is defined twice: here and granted through onboarding (bucket %s); remove one (enqueue accounts revoke %s)", name, vault.Bucket, name)}
		}
	}
	m.log.Info("onboarded accounts loaded", "accounts", l.dyn.Names(), "bucket", vault.Bucket, "master_key_id", cur.ID())
	if c.Onboarding() {
		return m.serveOnboarding(v, baseURL, devKey)
	}
	return nil
}

// warnOnboarded logs an error when the bucket holds onboarded accounts
// this replica, without ACCOUNTS_MASTER_KEY, cannot run: their jobs would
// be dead-lettered here while other replicas run them.
func (m *Main) warnOnboarded(ctx context.Context, js jetstream.JetStream) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	kv, err := js.KeyValue(ctx, vault.Bucket)
	if err != nil {
		return // no bucket: onboarding never ran
	}
	entries, err := vault.New(kv, nil).List(ctx)
	if err != nil || len(entries) == 0 {
		return
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name
	}
	m.log.Error("onboarded accounts exist but ACCOUNTS_MASTER_KEY is not set: this replica dead-letters their jobs; give every replica ACCOUNTS_MASTER_KEY and KLICKTIPP_DEVELOPER_KEY", "accounts", names)
}

// watchAccounts keeps l.dyn equal to the bucket until ctx is done,
// watching again (after a pause) when a watch fails. ready is closed once
// the bucket's accounts are first loaded.
func (m *Main) watchAccounts(ctx context.Context, v *vault.Vault, baseURL, devKey string, ready chan struct{}) {
	l := m.live
	var once sync.Once
	started := false            // the first load is complete
	revs := map[string]uint64{} // revision of each account in l.dyn
	for delay := time.Second; ; delay = min(2*delay, 30*time.Second) {
		seen := map[string]bool{} // accounts this watch's initial state holds
		initial := true
		apply := func(ch vault.Change) {
			if initial {
				seen[ch.Name] = true
			}
			m.applyAccount(ch, revs, started, baseURL, devKey)
			l.metrics.SetAccounts(len(l.dyn.Names()))
		}
		err := v.Watch(ctx, apply, func() {
			initial = false
			for _, name := range l.dyn.Names() { // revoked while the watch was down
				if !seen[name] {
					m.applyAccount(vault.Change{Name: name}, revs, started, baseURL, devKey)
				}
			}
			l.metrics.SetAccounts(len(l.dyn.Names()))
			started = true
			once.Do(func() { close(ready) })
		})
		if ctx.Err() != nil {
			return
		}
		m.log.Warn("watch of onboarded accounts failed; watching again", "err", err, "retry_in", delay)
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
	}
}

// applyAccount brings one account of l.dyn up to date with the bucket.
// Before the first load is complete (started false) it logs nothing per
// account and keeps names the environment also defines, so the start can
// stop on them.
func (m *Main) applyAccount(ch vault.Change, revs map[string]uint64, started bool, baseURL, devKey string) {
	l := m.live
	_, static := m.profiles[ch.Name]
	switch {
	case ch.Err != nil:
		delete(revs, ch.Name)
		l.dyn.Remove(ch.Name)
		m.log.Error("onboarded account unusable: its jobs are dead-lettered until it is granted again", "account", ch.Name, "err", ch.Err)
	case ch.Account == nil:
		delete(revs, ch.Name)
		if l.dyn.Remove(ch.Name) && started {
			m.log.Info("onboarded account revoked", "account", ch.Name)
		}
	case static && started:
		m.log.Error("onboarded account ignored: the environment or ACCOUNTS_FILE defines the same name", "account", ch.Name)
	case revs[ch.Name] == ch.Account.Revision:
		// unchanged (a watch started again)
	default:
		a := ch.Account
		revs[ch.Name] = a.Revision
		l.dyn.Set(ch.Name, account.Profile{KlickTipp: &account.KlickTipp{
			BaseURL: baseURL, Username: a.Username, DeveloperKey: devKey, CustomerKey: a.CustomerKey,
		}})
		if started {
			m.log.Info("onboarded account live", "account", ch.Name, "username", a.Username, "key_hint", a.Hint, "granted_at", a.GrantedAt)
		}
	}
}

// serveOnboarding starts the callback on its own listener, ONBOARDING_ADDR.
func (m *Main) serveOnboarding(v *vault.Vault, baseURL, devKey string) error {
	c := m.cfg
	signer, err := onboarding.NewSigner(c.OnboardingSecret)
	if err != nil {
		return &config.Error{Var: "ONBOARDING_SECRET", Reason: err.Error()}
	}
	cb, err := onboarding.NewCallback(onboarding.CallbackConfig{
		Signer: signer, Store: v,
		Verify: onboarding.KlickTippVerifier(baseURL, devKey, apis.NewHTTPClient(c.HTTPTimeout), c.AllowInsecureHTTP || m.sandbox),
		Reserved: func(name string) bool {
			_, ok := m.profiles[name]
			return ok
		},
		Logger:  m.log,
		Observe: m.live.metrics.ObserveCallback,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", c.OnboardingAddr)
	if err != nil {
		return fmt.Errorf("ONBOARDING_ADDR %s: %w", c.OnboardingAddr, err)
	}
	srv := onboarding.NewServer(cb)
	m.live.srv = srv
	m.closers = append(m.closers, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(ctx)
	})
	m.live.addr <- ln.Addr().String()
	m.log.Info("onboarding listening", "addr", ln.Addr().String(), "path", onboarding.CallbackPrefix+"<token>", "public_url", c.OnboardingPublicURL)
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.log.Error("onboarding server stopped", "err", err)
		}
	}()
	return nil
}
