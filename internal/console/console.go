package console

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/time/rate"
)

// Prefix is the path the console is served under.
const Prefix = "/console/"

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Config configures a Console. Zero fields take the defaults stated.
type Config struct {
	// Password, when set, is required to log in (at least 12 characters);
	// empty leaves the console open, which the caller must allow only on
	// a loopback listener.
	Password string
	// ReadOnly refuses every action (replay, purge, revoke).
	ReadOnly bool
	// SessionTTL is how long a login lasts; default 12h.
	SessionTTL time.Duration
	// Refresh is how often pages reload their live parts; default 3s.
	// Pages that read a whole stream each time (dead letters, a running
	// job) reload at most every 10 s; a finished job's page not at all.
	Refresh time.Duration
	// Accounts lists the accounts; nil shows none.
	Accounts AccountLister
	// Revoker, when set, adds a revoke action for accounts marked Revoke.
	Revoker Revoker
	// Credentials names the credentials whose limits CRMSYNC_LIMITS holds;
	// may be nil (limits are then shown by hashed id only).
	Credentials func() []Credential
	// Logger receives the audit log of every action (at info, message
	// "console audit"); default discards.
	Logger *slog.Logger
	// Timeout bounds the NATS reads of one page; default 10s.
	Timeout time.Duration
}

// Console serves the pages. It is safe for concurrent use.
type Console struct {
	cfg    Config
	key    []byte // signs sessions and CSRF tokens
	open   bool   // no password
	js     atomic.Pointer[jetstream.JetStream]
	tmpl   map[string]*template.Template
	mux    http.Handler
	logins *rate.Limiter // failed logins
	log    *slog.Logger
	index  backfillIndex
}

// ErrShortPassword is returned by New for a password under 12 characters.
var ErrShortPassword = errors.New("console password must be at least 12 characters")

// New builds a console. Its only error is ErrShortPassword.
func New(cfg Config) (*Console, error) {
	if cfg.Password != "" && len([]rune(cfg.Password)) < 12 {
		return nil, ErrShortPassword
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	if cfg.Refresh <= 0 {
		cfg.Refresh = 3 * time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	c := &Console{cfg: cfg, open: cfg.Password == "", log: cfg.Logger,
		logins: rate.NewLimiter(rate.Every(time.Second), 10)}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.open {
		c.key = make([]byte, 32)
		_, _ = rand.Read(c.key)
	} else {
		// The same password gives the same key on every replica, so a
		// session started on one is good on all; a new password ends
		// every session.
		m := hmac.New(sha256.New, []byte(cfg.Password))
		m.Write([]byte("crmsync console session key v1"))
		c.key = m.Sum(nil)
	}
	c.tmpl = parseTemplates()
	c.mux = c.routes()
	return c, nil
}

// SetJetStream gives the console its NATS connection once it is up; until
// then pages say NATS is not connected.
func (c *Console) SetJetStream(js jetstream.JetStream) { c.js.Store(&js) }

func (c *Console) jetStream() jetstream.JetStream {
	if p := c.js.Load(); p != nil {
		return *p
	}
	return nil
}

// ServeHTTP serves everything under Prefix.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	secureHeaders(w)
	c.mux.ServeHTTP(w, r)
}

func (c *Console) routes() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET "+Prefix+"static/", http.StripPrefix(Prefix+"static/", http.FileServerFS(static)))
	mux.HandleFunc("GET "+Prefix+"login", c.loginPage)
	mux.HandleFunc("POST "+Prefix+"login", c.login)
	mux.Handle("POST "+Prefix+"logout", c.action(c.logout, false))

	mux.Handle("GET "+Prefix+"{$}", c.page(c.overview))
	mux.Handle("GET "+Prefix+"backfills", c.page(c.backfills))
	mux.Handle("GET "+Prefix+"backfills/{id}", c.page(c.backfill))
	mux.Handle("GET "+Prefix+"backfills/{id}/failed.csv", c.authed(http.HandlerFunc(c.failedCSV)))
	mux.Handle("GET "+Prefix+"jobs", c.page(c.jobSearch))
	mux.Handle("GET "+Prefix+"jobs/{id}", c.page(c.job))
	mux.Handle("GET "+Prefix+"dlq", c.page(c.deadLetters))
	mux.Handle("GET "+Prefix+"dlq/{seq}", c.page(c.deadLetter))
	mux.Handle("GET "+Prefix+"dlq/confirm", c.page(c.confirm))
	mux.Handle("POST "+Prefix+"dlq/replay", c.action(c.replay, true))
	mux.Handle("POST "+Prefix+"dlq/purge", c.action(c.purge, true))
	mux.Handle("GET "+Prefix+"accounts", c.page(c.accounts))
	mux.Handle("GET "+Prefix+"accounts/confirm", c.page(c.confirmRevoke))
	mux.Handle("POST "+Prefix+"accounts/revoke", c.action(c.revoke, true))
	mux.HandleFunc(Prefix, func(w http.ResponseWriter, r *http.Request) {
		c.authed(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c.render(w, r, http.StatusNotFound, "error", &view{Title: "Not found", Error: "No such page: " + r.URL.Path})
		})).ServeHTTP(w, r)
	})
	return http.NewCrossOriginProtection().Handler(mux)
}

// secureHeaders sets the headers every response carries.
func secureHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
}

// slowRefresh is the reload interval, in seconds, of pages that read a
// whole stream.
func (c *Console) slowRefresh() int { return int(max(c.cfg.Refresh, 10*time.Second).Seconds()) }

// ctx bounds one page's NATS reads.
func (c *Console) ctx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), c.cfg.Timeout)
}
