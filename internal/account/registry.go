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
	"crmsync/internal/limiter"
)

// ErrNoCredentials is returned (wrapped) by Route for a job whose account
// is unknown or has no credentials for the API it needs.
var ErrNoCredentials = errors.New("no credentials")

// ProfileError says which account's credentials for which API are unusable
// (a malformed key, a bad base URL). Its message never holds a secret.
// Its message names the value as ACCOUNTS_FILE spells it: `account "acme":
// clickyid.apiKey is malformed (want ck_live_ and 40 hex characters)`.
type ProfileError struct {
	Account string
	API     string // "klicktipp", "klipy" or "clickyid"
	// Field is the JSON key of the bad value in the API's section
	// ("apiKey", "baseUrl", "developerKey", ...); empty when only the
	// client's own check found the fault (Err then says what it is).
	Field string
	Err   error // what is wrong: "is malformed (...)", "is required with developerKey"
}

func (e *ProfileError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("account %q: %v", e.Account, e.Err)
	}
	return fmt.Sprintf("account %q: %s.%s %v", e.Account, e.API, e.Field, e.Err)
}

// Unwrap returns the client's error.
func (e *ProfileError) Unwrap() error { return e.Err }

// Defaults fills what a profile leaves out: base URLs and rates from the
// environment.
type Defaults struct {
	KlickTippBaseURL, KlipyBaseURL, ClickyIDBaseURL string
	KlickTippRate, KlipyRate, ClickyIDRate          float64
	KlickTippBurst, KlipyBurst, ClickyIDBurst       int
	// KlipyOrgRate and KlipyOrgBurst are the budget shared by the keys of one
	// Klipy organisation (profiles naming it in "organization"), in requests
	// per second; 0 leaves organisations unlimited (each key still is).
	KlipyOrgRate  float64
	KlipyOrgBurst int
	// ClickyIDClasses are the per-minute budgets of ClickyID's endpoint
	// classes (clickyid.ClassBulk, ...), within the key's hourly budget
	// (ClickyIDRate); a class not in it has only the hourly one.
	ClickyIDClasses map[string]ClassBudget
}

// ClassBudget is one ClickyID endpoint class's budget per key: PerMinute
// requests a minute, in bursts of up to Burst.
type ClassBudget struct {
	PerMinute float64
	Burst     int
}

// Config builds a Registry.
type Config struct {
	Profiles          map[string]Profile
	Defaults          Defaults
	HTTPClient        *http.Client // shared by every client; default apis.NewHTTPClient(0)
	AllowInsecureHTTP bool
	// Limiters hands out the limiter of each budget (a credential, a Klipy
	// organisation, a ClickyID endpoint class of a key), created when an
	// account first uses it. Nil: no limits.
	Limiters  *limiter.Registry
	Observer  apis.Observer                // metrics of every HTTP exchange; may be nil
	OnSession func(klicktipp.SessionEvent) // KlickTipp session metrics; may be nil
	// Dynamic holds accounts granted while running (onboarding); may be nil.
	Dynamic *Dynamic
	// Locks makes creating a KlickTipp tag single across the fleet
	// (jobs.LocksBucket, keyed by the account's username, hashed); nil:
	// single within this process only.
	Locks *jobs.Locks
}

// Registry routes jobs to handlers and caches one client per account and
// API, built (with its limiters) when a job first needs it, so that
// thousands of configured accounts cost nothing until they are used. It is
// safe for concurrent use.
type Registry struct {
	cfg Config

	mu       sync.Mutex
	handlers map[string]jobs.Handler // "account/api"
}

// New checks every profile, its values by their JSON keys and then by
// building its clients once (without limiters, and not kept), so a bad base
// URL or key format stops the start with a *ProfileError instead of
// dead-lettering jobs later.
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
			if field, err := checkFields(api, p, cfg.AllowInsecureHTTP); err != nil {
				return nil, &ProfileError{Account: name, API: api, Field: field, Err: err}
			}
			if _, err := r.build(name, api, false); err != nil {
				return nil, &ProfileError{Account: name, API: api, Err: err}
			}
		}
	}
	return r, nil
}

// Len returns the number of accounts.
func (r *Registry) Len() int { return len(r.cfg.Profiles) }

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
	h, err := r.build(account, api, true)
	if err != nil {
		return nil, err
	}
	r.handlers[key] = h
	return h, nil
}

// build makes the handler of account for api, with its limiters when
// limited is set (else it only checks the profile).
func (r *Registry) build(account, api string, limited bool) (jobs.Handler, error) {
	b := &budgets{reg: r.cfg.Limiters}
	if !limited {
		b.reg = nil
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
		lim, err := b.one(limiter.Budget{API: "klicktipp", Credential: k.Username, Rate: or(k.Rate, d.KlickTippRate), Burst: orInt(k.Burst, d.KlickTippBurst)})
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
		h = &jobs.KlickTippUpsert{Client: c, CreateTags: k.CreateTags == nil || *k.CreateTags,
			Locks: r.cfg.Locks, Credential: k.Username}
	case "klipy":
		k := p.Klipy
		if k == nil {
			return nil, fmt.Errorf("account %q has no klipy credentials: %w", account, ErrNoCredentials)
		}
		lim, err := b.klipy(k, d)
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
		lim, classes, err := b.clickyID(k, d)
		if err != nil {
			return nil, err
		}
		c, err := clickyid.New(clickyid.Config{BaseURL: orStr(k.BaseURL, d.ClickyIDBaseURL), APIKey: k.APIKey,
			HTTPClient: r.cfg.HTTPClient, Limiter: lim, ClassLimiters: classes, Observer: r.cfg.Observer, AllowInsecureHTTP: r.cfg.AllowInsecureHTTP})
		if err != nil {
			return nil, err
		}
		h = &jobs.ClickyIDValidate{Client: c}
	default:
		return nil, fmt.Errorf("no handler for target %q", api)
	}
	return h, nil
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
