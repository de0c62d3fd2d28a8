package onboarding

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strings"
	"time"

	"crmsync/internal/vault"
)

// Store keeps grants and single-use marks; *vault.Vault is one.
type Store interface {
	// Claim marks invite id used; vault.ErrUsed when it was before.
	Claim(ctx context.Context, id, account string, ttl time.Duration) error
	// Release undoes a Claim whose grant did not happen.
	Release(ctx context.Context, id string) error
	// Grant stores (or replaces) an account's username and Customer Key.
	Grant(ctx context.Context, account, username, customerKey string) (vault.Entry, error)
}

var _ Store = (*vault.Vault)(nil)

// CallbackConfig configures a Callback. Signer, Store and Verify are
// required.
type CallbackConfig struct {
	Signer *Signer
	Store  Store
	Verify Verifier
	// Reserved reports whether an account name belongs to an account from
	// the environment or ACCOUNTS_FILE; such a name is never onboarded.
	// Default: none is.
	Reserved func(account string) bool
	// Limiter limits requests per client address. Default: 10 at once, then
	// one every 6 s (10 a minute).
	Limiter *AddressLimiter
	// Timeout bounds the KlickTipp check and the store of one request.
	// Default 20s.
	Timeout time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger gets one line per answer (never the key). Default: discard.
	Logger *slog.Logger
	// Observe, when set, is called with each answer's outcome (granted,
	// expired, used, tampered, rejected, malformed, limited, reserved,
	// not_found, method, body, unavailable) for metrics.
	Observe func(outcome string)
}

// Callback answers GET /klicktipp/grant/<token>?customerkey=<key> and
// nothing else. It is safe for concurrent use.
type Callback struct {
	cfg CallbackConfig
}

// NewCallback checks cfg and applies its defaults.
func NewCallback(cfg CallbackConfig) (*Callback, error) {
	if cfg.Signer == nil || cfg.Store == nil || cfg.Verify == nil {
		return nil, errors.New("onboarding: Signer, Store and Verify are required")
	}
	if cfg.Reserved == nil {
		cfg.Reserved = func(string) bool { return false }
	}
	if cfg.Limiter == nil {
		cfg.Limiter = NewAddressLimiter(6*time.Second, 10, 0)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 20 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Callback{cfg: cfg}, nil
}

// keyRE is the loose shape of a Customer Key (its format is not published).
var keyRE = regexp.MustCompile(`^[A-Za-z0-9_-]{16,128}$`)

// ValidKeyShape reports whether key looks like a Customer Key.
func ValidKeyShape(key string) bool { return keyRE.MatchString(key) }

// maxBody is the largest request body accepted (a GET has none).
const maxBody = 0

// answer is one refusal or the success, with its status and page.
type answer struct {
	outcome, title, text string
	status               int
}

var (
	ansLimited  = answer{"limited", "Too many requests", "Too many requests from your address. Please wait a minute and open the link again.", http.StatusTooManyRequests}
	ansNotFound = answer{"not_found", "Not found", "There is nothing here.", http.StatusNotFound}
	ansMethod   = answer{"method", "Method not allowed", "Only GET is served here.", http.StatusMethodNotAllowed}
	ansBody     = answer{"body", "Request too large", "This address takes no request body.", http.StatusRequestEntityTooLarge}
	ansTampered = answer{"tampered", "Invalid link", "This access link is not valid: it was changed or not issued by us. Please ask for a new invitation.", http.StatusForbidden}
	ansExpired  = answer{"expired", "Link expired", "This access link has expired. Please ask for a new invitation.", http.StatusGone}
	ansUsed     = answer{"used", "Link already used", "This access link was already used; each link works once. If access is missing, please ask for a new invitation.", http.StatusConflict}
	ansMissing  = answer{"malformed", "No customer key", "KlickTipp did not send a customer key. Please open the invitation link again and confirm access in KlickTipp.", http.StatusBadRequest}
	ansShape    = answer{"malformed", "Malformed customer key", "The customer key KlickTipp sent does not look like one. Please open the invitation link again.", http.StatusBadRequest}
	ansRejected = answer{"rejected", "Key rejected by KlickTipp", "KlickTipp did not accept the customer key for this account. Please open the invitation link again and confirm access with the KlickTipp user named in the invitation.", http.StatusUnprocessableEntity}
	ansReserved = answer{"reserved", "Account configured elsewhere", "This account is configured by the operator and cannot be granted through a link. Please contact them.", http.StatusConflict}
	ansDown     = answer{"unavailable", "Try again later", "We could not confirm the key with KlickTipp or store it just now. The link still works: please open it again in a few minutes.", http.StatusServiceUnavailable}
)

// ServeHTTP answers one request.
func (c *Callback) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	addr := clientAddr(r)
	if !c.cfg.Limiter.Allow(addr, c.cfg.Now()) {
		w.Header().Set("Retry-After", "60")
		c.refuse(w, addr, "", ansLimited)
		return
	}
	token, ok := strings.CutPrefix(r.URL.Path, CallbackPrefix)
	if !ok || token == "" || strings.Contains(token, "/") {
		c.refuse(w, addr, "", ansNotFound)
		return
	}
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		c.refuse(w, addr, "", ansMethod)
		return
	}
	if r.ContentLength > maxBody || len(r.TransferEncoding) > 0 {
		w.Header().Set("Connection", "close")
		c.refuse(w, addr, "", ansBody)
		return
	}
	now := c.cfg.Now()
	inv, err := c.cfg.Signer.Verify(token, now)
	switch {
	case errors.Is(err, ErrExpired):
		c.refuse(w, addr, inv.Account, ansExpired)
		return
	case err != nil:
		c.refuse(w, addr, "", ansTampered)
		return
	}
	keys := r.URL.Query()["customerkey"]
	if len(keys) == 0 || keys[0] == "" {
		c.refuse(w, addr, inv.Account, ansMissing)
		return
	}
	key := keys[0]
	if len(keys) > 1 || !ValidKeyShape(key) {
		c.refuse(w, addr, inv.Account, ansShape)
		return
	}
	if c.cfg.Reserved(inv.Account) {
		c.refuse(w, addr, inv.Account, ansReserved)
		return
	}
	// Not the request's context: a customer closing the tab mid-check must
	// not leave a half-done grant; Timeout bounds it.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), c.cfg.Timeout)
	defer cancel()
	if err := c.cfg.Store.Claim(ctx, inv.ID, inv.Account, inv.Expires.Sub(now)); err != nil {
		if errors.Is(err, vault.ErrUsed) {
			c.refuse(w, addr, inv.Account, ansUsed)
			return
		}
		c.fail(w, addr, inv.Account, "marking the invite used", err)
		return
	}
	if err := c.cfg.Verify(ctx, inv.Username, key); err != nil {
		c.release(inv)
		if errors.Is(err, ErrKeyRejected) {
			c.refuse(w, addr, inv.Account, ansRejected)
			return
		}
		c.fail(w, addr, inv.Account, "verifying the key with KlickTipp", err)
		return
	}
	ent, err := c.cfg.Store.Grant(ctx, inv.Account, inv.Username, key)
	if err != nil {
		c.release(inv)
		c.fail(w, addr, inv.Account, "storing the key", err)
		return
	}
	c.observe("granted")
	c.cfg.Logger.Info("klicktipp access granted", "account", inv.Account, "username", inv.Username,
		"key_hint", ent.Hint, "master_key_id", ent.KeyID)
	writePage(w, http.StatusOK, "Access granted",
		fmt.Sprintf("Thank you: access to your KlickTipp account was granted for %q. You can close this page.", inv.Account))
}

// release undoes the claim so the customer can use the link again.
func (c *Callback) release(inv Invite) {
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.Timeout)
	defer cancel()
	if err := c.cfg.Store.Release(ctx, inv.ID); err != nil {
		c.cfg.Logger.Warn("onboarding: cannot release an invite after a failed grant; it cannot be used again", "account", inv.Account, "err", err)
	}
}

func (c *Callback) observe(outcome string) {
	if c.cfg.Observe != nil {
		c.cfg.Observe(outcome)
	}
}

func (c *Callback) refuse(w http.ResponseWriter, addr, account string, a answer) {
	c.observe(a.outcome)
	attrs := []any{"status", a.status, "reason", a.outcome, "client", addr}
	if account != "" {
		attrs = append(attrs, "account", account)
	}
	if a.status == http.StatusTooManyRequests || a.status == http.StatusNotFound {
		c.cfg.Logger.Debug("onboarding callback refused", attrs...)
	} else {
		c.cfg.Logger.Warn("onboarding callback refused", attrs...)
	}
	writePage(w, a.status, a.title, a.text)
}

// fail answers 503 for a failure on our side or KlickTipp's; err never
// holds the key (the clients redact it).
func (c *Callback) fail(w http.ResponseWriter, addr, account, what string, err error) {
	c.observe(ansDown.outcome)
	c.cfg.Logger.Error("onboarding callback failed "+what, "account", account, "client", addr, "err", err)
	writePage(w, ansDown.status, ansDown.title, ansDown.text)
}

// clientAddr is the host of the peer's address. A proxy in front makes
// every customer one address: give it its own limit there.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// NewServer returns an http.Server for h with small bounds: 8 KiB of
// headers, 5 s to read them, 10 s for the request, 30 s to answer.
func NewServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		MaxHeaderBytes:    8 << 10,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       30 * time.Second,
	}
}
