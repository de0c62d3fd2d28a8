package account

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"sync"

	"crmsync/internal/apis"
	"crmsync/internal/apis/clickyid"
	"crmsync/internal/apis/klicktipp"
	"crmsync/internal/apis/klipy"
	"crmsync/internal/jobs"
)

// ErrNoCredentials is returned (wrapped) by Route for a job whose account
// is unknown or has no credentials for the API it needs.
var ErrNoCredentials = errors.New("no credentials")

// ProfileError says which account's credentials for which API are unusable
// (a malformed key, a bad base URL). Its message never holds a secret.
type ProfileError struct {
	Account string
	API     string // "klicktipp", "klipy" or "clickyid"
	Err     error
}

func (e *ProfileError) Error() string { return fmt.Sprintf("account %q: %v", e.Account, e.Err) }

// Unwrap returns the client's error.
func (e *ProfileError) Unwrap() error { return e.Err }

// Defaults fills what a profile leaves out: base URLs and rates from the
// environment.
type Defaults struct {
	KlickTippBaseURL, KlipyBaseURL, ClickyIDBaseURL string
	KlickTippRate, KlipyRate, ClickyIDRate          float64
	KlickTippBurst, KlipyBurst, ClickyIDBurst       int
}

// Config builds a Registry.
type Config struct {
	Profiles          map[string]Profile
	Defaults          Defaults
	HTTPClient        *http.Client // shared by every client; default apis.NewHTTPClient(0)
	AllowInsecureHTTP bool
	// Limiter returns the limiter of one credential (API + username or
	// key); the same credential must get the same limiter. Nil: no limits.
	Limiter   func(api, credential string, rate float64, burst int) (apis.Limiter, error)
	Observer  apis.Observer                // metrics of every HTTP exchange; may be nil
	OnSession func(klicktipp.SessionEvent) // KlickTipp session metrics; may be nil
	// Dynamic holds accounts granted while running (onboarding); may be nil.
	Dynamic *Dynamic
}

// Registry routes jobs to handlers and caches one client per account and
// API. It is safe for concurrent use.
type Registry struct {
	cfg Config

	mu       sync.Mutex
	handlers map[string]jobs.Handler // "account/api"
}

// New checks every profile by building its clients once, so a bad base URL
// or key format stops the start instead of dead-lettering jobs later.
func New(cfg Config) (*Registry, error) {
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = apis.NewHTTPClient(0)
	}
	r := &Registry{cfg: cfg, handlers: map[string]jobs.Handler{}}
	for _, name := range r.Names() {
		p := cfg.Profiles[name]
		for api, set := range map[string]bool{"klicktipp": p.KlickTipp != nil, "klipy": p.Klipy != nil, "clickyid": p.ClickyID != nil} {
			if !set {
				continue
			}
			if _, err := r.handler(name, api); err != nil {
				return nil, &ProfileError{Account: name, API: api, Err: err}
			}
		}
	}
	return r, nil
}

// Names lists the accounts, sorted.
func (r *Registry) Names() []string {
	names := make([]string, 0, len(r.cfg.Profiles))
	for n := range r.cfg.Profiles {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Route returns the handler for job's kind, target and account.
func (r *Registry) Route(job *jobs.Job) (jobs.Handler, error) {
	api := ""
	switch job.Kind {
	case jobs.KindContactUpsert:
		api = job.Target
	case jobs.KindEmailValidate:
		api = "clickyid"
	}
	return r.handler(job.Account, api)
}

var _ jobs.Router = (*Registry)(nil)

func (r *Registry) handler(account, api string) (jobs.Handler, error) {
	key := r.cacheKey(account, api)
	r.mu.Lock()
	defer r.mu.Unlock()
	if h, ok := r.handlers[key]; ok {
		return h, nil
	}
	p, ok := r.cfg.Profiles[account]
	if !ok {
		p, ok = r.dynamicProfile(account)
	}
	if !ok {
		return nil, fmt.Errorf("account %q is not configured (ACCOUNTS_FILE): %w", account, ErrNoCredentials)
	}
	d := r.cfg.Defaults
	var h jobs.Handler
	switch api {
	case "klicktipp":
		k := p.KlickTipp
		if k == nil {
			return nil, fmt.Errorf("account %q has no klicktipp credentials: %w", account, ErrNoCredentials)
		}
		lim, err := r.limiter("klicktipp", k.Username, or(k.Rate, d.KlickTippRate), orInt(k.Burst, d.KlickTippBurst))
		if err != nil {
			return nil, err
		}
		c, err := klicktipp.New(klicktipp.Config{
			BaseURL: orStr(k.BaseURL, d.KlickTippBaseURL), Username: k.Username, Password: k.Password,
			DeveloperKey: k.DeveloperKey, CustomerKey: k.CustomerKey,
			HTTPClient: r.cfg.HTTPClient, Limiter: lim, Observer: r.cfg.Observer,
			AllowInsecureHTTP: r.cfg.AllowInsecureHTTP, OnSession: r.cfg.OnSession,
		})
		if err != nil {
			return nil, err
		}
		h = &jobs.KlickTippUpsert{Client: c, CreateTags: k.CreateTags == nil || *k.CreateTags}
	case "klipy":
		k := p.Klipy
		if k == nil {
			return nil, fmt.Errorf("account %q has no klipy credentials: %w", account, ErrNoCredentials)
		}
		lim, err := r.limiter("klipy", k.APIKey, or(k.Rate, d.KlipyRate), orInt(k.Burst, d.KlipyBurst))
		if err != nil {
			return nil, err
		}
		c, err := klipy.New(klipy.Config{BaseURL: orStr(k.BaseURL, d.KlipyBaseURL), APIKey: k.APIKey,
			HTTPClient: r.cfg.HTTPClient, Limiter: lim, Observer: r.cfg.Observer, AllowInsecureHTTP: r.cfg.AllowInsecureHTTP})
		if err != nil {
			return nil, err
		}
		h = &jobs.KlipyUpsert{Client: c}
	case "clickyid":
		k := p.ClickyID
		if k == nil {
			return nil, fmt.Errorf("account %q has no clickyid credentials: %w", account, ErrNoCredentials)
		}
		lim, err := r.limiter("clickyid", k.APIKey, or(k.Rate, d.ClickyIDRate), orInt(k.Burst, d.ClickyIDBurst))
		if err != nil {
			return nil, err
		}
		c, err := clickyid.New(clickyid.Config{BaseURL: orStr(k.BaseURL, d.ClickyIDBaseURL), APIKey: k.APIKey,
			HTTPClient: r.cfg.HTTPClient, Limiter: lim, Observer: r.cfg.Observer, AllowInsecureHTTP: r.cfg.AllowInsecureHTTP})
		if err != nil {
			return nil, err
		}
		h = &jobs.ClickyIDValidate{Client: c}
	default:
		return nil, fmt.Errorf("no handler for target %q", api)
	}
	r.handlers[key] = h
	return h, nil
}

func (r *Registry) limiter(api, credential string, rate float64, burst int) (apis.Limiter, error) {
	if r.cfg.Limiter == nil {
		return nil, nil
	}
	return r.cfg.Limiter(api, credential, rate, burst)
}

func or(a, b float64) float64 {
	if a > 0 {
		return a
	}
	return b
}

func orInt(a, b int) int {
	if a > 0 {
		return a
	}
	return b
}

func orStr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
