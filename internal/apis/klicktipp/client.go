package klicktipp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"crmsync/internal/apis"
)

// DefaultBaseURL is the production API.
const DefaultBaseURL = "https://api.klicktipp.com"

// APIError is the error type every method returns for a non-2xx answer or a
// body it cannot decode. Match its class with errors.Is(err, apis.ErrValidation)
// and friends; Code holds KlickTipp's numeric error code ("5", "402", ...).
type APIError = apis.Error

// ErrSessionClosed is returned by a Session's methods after Logout.
var ErrSessionClosed = errors.New("klicktipp: session closed")

// Mode is how a Client authenticates.
type Mode int

const (
	// ModeSession logs in with username and password (POST /account/login)
	// and sends the session cookie.
	ModeSession Mode = iota
	// ModePartner signs every request with X-Un (username) and X-Ci
	// (derived from developer and customer key); there is no login.
	ModePartner
)

// String returns "session" or "partner".
func (m Mode) String() string {
	if m == ModePartner {
		return "partner"
	}
	return "session"
}

// SessionEvent is reported to Config.OnSession.
type SessionEvent int

const (
	// SessionOpened: Login opened a session (session mode only).
	SessionOpened SessionEvent = iota
	// SessionClosed: Logout closed a session (reported once per session).
	SessionClosed
	// SessionRelogin: an expired session was logged in again.
	SessionRelogin
)

// String returns "opened", "closed" or "relogin".
func (e SessionEvent) String() string {
	switch e {
	case SessionOpened:
		return "opened"
	case SessionClosed:
		return "closed"
	case SessionRelogin:
		return "relogin"
	}
	return fmt.Sprintf("SessionEvent(%d)", int(e))
}

// Config configures a Client. Only the credentials are required.
type Config struct {
	// BaseURL of the API. Default DefaultBaseURL. Must be https:// except
	// for loopback hosts or when AllowInsecureHTTP is set.
	BaseURL string
	// Username and Password: session mode. Username is also the X-Un of
	// partner mode.
	Username, Password string
	// DeveloperKey (hex) and CustomerKey: partner mode, preferred when both
	// are set. Setting only one of them is an error.
	DeveloperKey, CustomerKey string
	// HTTPClient sends the requests. Default apis.NewHTTPClient(0); share one
	// per process.
	HTTPClient *http.Client
	// Limiter is waited on before every request and told every answer.
	// Default none.
	Limiter apis.Limiter
	// Observer receives one call per HTTP exchange (metrics). Default none.
	Observer apis.Observer
	// AllowInsecureHTTP permits http:// base URLs to non-loopback hosts.
	AllowInsecureHTTP bool
	// OnSession, when set, is called on session open, close and relogin (for
	// metrics). It is called synchronously and must be cheap and safe for
	// concurrent use. Partner mode has no sessions and never calls it.
	OnSession func(event SessionEvent)
}

// Client talks to one KlickTipp account. It is safe for concurrent use; all
// calls go through a Session obtained from Login.
type Client struct {
	base      *url.URL
	tr        *apis.Transport
	mode      Mode
	username  string
	password  string
	xci       string
	onSession func(SessionEvent)
	secrets   []string // redacted from every error message
	routesMu  sync.RWMutex
	routes    map[routeKey]route // each request's URL and operation, built once
}

type routeKey struct{ method, path string }

// maxRoutes bounds the routes kept (a path carrying an id would otherwise
// grow the map without end).
const maxRoutes = 64

// route is what every request to one method and path shares.
type route struct{ op, url string }

// New checks cfg and returns a Client. It fails, naming the field, when the
// base URL is malformed or not https, or credentials are missing: Username
// always, Password in session mode, both or neither of DeveloperKey and
// CustomerKey. Errors never contain a secret.
func New(cfg Config) (*Client, error) {
	raw := cfg.BaseURL
	if strings.TrimSpace(raw) == "" {
		raw = DefaultBaseURL
	}
	base, err := apis.ParseBaseURL(raw, cfg.AllowInsecureHTTP)
	if err != nil {
		return nil, fmt.Errorf("klicktipp: BaseURL: %w", err)
	}
	c := &Client{
		base:      base,
		username:  strings.TrimSpace(cfg.Username),
		password:  cfg.Password,
		onSession: cfg.OnSession,
	}
	if c.username == "" {
		return nil, errors.New("klicktipp: Username is required")
	}
	dk, ck := strings.TrimSpace(cfg.DeveloperKey), strings.TrimSpace(cfg.CustomerKey)
	switch {
	case dk != "" && ck != "":
		c.mode = ModePartner
		if c.xci, err = XCI(dk, ck); err != nil {
			return nil, err
		}
		c.secrets = append(c.secrets, dk, ck, c.xci)
	case dk != "":
		return nil, errors.New("klicktipp: CustomerKey is required with DeveloperKey")
	case ck != "":
		return nil, errors.New("klicktipp: DeveloperKey is required with CustomerKey")
	default:
		c.mode = ModeSession
		if c.password == "" {
			return nil, errors.New("klicktipp: Password is required (or DeveloperKey and CustomerKey)")
		}
	}
	if c.password != "" {
		c.secrets = append(c.secrets, c.password)
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = apis.NewHTTPClient(0)
	}
	c.tr = &apis.Transport{API: "klicktipp", HTTP: hc, Limiter: cfg.Limiter, Observer: cfg.Observer}
	return c, nil
}

// Mode reports how the client authenticates.
func (c *Client) Mode() Mode { return c.mode }

// auth is what signs one request.
type auth struct {
	name, id string // session cookie name and id (session mode)
	hdr      sessionHeaders
	partner  bool
}

// sessionHeaders are the values of the headers that carry a session, made
// once per login and shared by its requests (net/http only reads them).
type sessionHeaders struct{ cookie, id []string }

func newSessionHeaders(name, id string) sessionHeaders {
	return sessionHeaders{cookie: []string{name + "=" + id}, id: []string{id}}
}

// send makes one request and returns the status, headers and body; a
// non-2xx answer is returned as a mapped *APIError. in is JSON-encoded when
// not nil.
func (c *Client) send(ctx context.Context, method, path string, in any, a auth) (*http.Response, []byte, error) {
	rt := c.route(method, path)
	op := rt.op
	req, err := c.tr.NewRequest(ctx, op, method, rt.url, in)
	if err != nil {
		return nil, nil, err
	}
	switch {
	case a.partner:
		req.Header.Set("X-Un", c.username)
		req.Header.Set("X-Ci", c.xci)
	case a.id != "":
		h := a.hdr
		if h.cookie == nil {
			h = newSessionHeaders(a.name, a.id)
		}
		req.Header["Cookie"], req.Header["X-Session-Id"] = h.cookie, h.id
	}
	resp, data, err := c.tr.Do(ctx, op, req)
	if err != nil {
		return nil, nil, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := errorFrom(op, resp.StatusCode, resp.Header, data, func(m string) string { return redact(m, c.secrets, a.id) })
		return resp, data, e
	}
	return resp, data, nil
}

// route returns the URL and operation name of method and path, built on
// the first request (the paths are the client's own: a few constants).
func (c *Client) route(method, path string) route {
	k := routeKey{method, path}
	c.routesMu.RLock()
	r, ok := c.routes[k]
	c.routesMu.RUnlock()
	if ok {
		return r
	}
	u := *c.base
	u.Path += path
	r = route{op: method + " " + path, url: u.String()}
	c.routesMu.Lock()
	if c.routes == nil {
		c.routes = map[routeKey]route{}
	}
	if len(c.routes) < maxRoutes {
		c.routes[k] = r
	}
	c.routesMu.Unlock()
	return r
}

// redact replaces every secret in s.
func redact(s string, secrets []string, more ...string) string {
	for _, list := range [][]string{secrets, more} {
		for _, x := range list {
			if len(x) >= 4 && strings.Contains(s, x) {
				s = strings.ReplaceAll(s, x, "[redacted]")
			}
		}
	}
	return s
}

// decodeErr is the error for a 2xx body that could not be decoded.
func decodeErr(op string, status int, err error) error {
	return &APIError{API: "klicktipp", Op: op, Status: status, Class: apis.ErrTransient,
		Message: "undecodable response body", Err: err}
}
