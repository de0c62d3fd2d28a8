package klicktipp

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"crmsync/internal/apis"
)

// Session is what every API call goes through. In session mode it holds the
// KlickTipp session of one Login; in partner mode it only signs requests.
//
// A Session is safe for concurrent use. When a request is answered 401 or
// 403 (an expired session, whatever language the message is in), the
// session logs in again once for that occurrence (concurrent callers that
// saw the same expiry share one relogin) and the request is retried once; a
// second refusal is final (apis.ErrUnauthorized for "access denied",
// apis.ErrForbidden for another 403).
type Session struct {
	c *Client

	// lock serialises login, relogin and logout; a channel so waiting on it
	// honours ctx.
	lock chan struct{}

	mu     sync.Mutex
	name   string // cookie name, e.g. SSESS...
	id     string // session id
	hdr    sessionHeaders
	gen    uint64 // bumped on every relogin
	closed bool

	relogins atomic.Int64
}

// loginAnswer is the body of POST /account/login.
type loginAnswer struct {
	SessID      string `json:"sessid"`
	SessionName string `json:"session_name"`
}

// Login opens a session. In session mode it calls POST /account/login once;
// wrong credentials fail with apis.ErrUnauthorized. In partner mode it makes
// no call and returns a Session that signs each request with X-Un and X-Ci.
// The caller must call Logout when done (a no-op in partner mode).
func (c *Client) Login(ctx context.Context) (*Session, error) {
	s := &Session{c: c, lock: make(chan struct{}, 1)}
	if c.mode == ModePartner {
		return s, nil
	}
	name, id, err := c.login(ctx)
	if err != nil {
		return nil, err
	}
	s.name, s.id, s.hdr = name, id, newSessionHeaders(name, id)
	c.event(SessionOpened)
	return s, nil
}

// login calls POST /account/login and returns the cookie name and session id.
func (c *Client) login(ctx context.Context) (name, id string, err error) {
	const op = "POST /account/login"
	in := map[string]string{"username": c.username, "password": c.password}
	resp, body, err := c.send(ctx, http.MethodPost, "/account/login", in, auth{})
	if err != nil {
		return "", "", err
	}
	var a loginAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		return "", "", decodeErr(op, resp.StatusCode, err)
	}
	name, id = strings.TrimSpace(a.SessionName), strings.TrimSpace(a.SessID)
	if name == "" || id == "" {
		// Fall back to the Set-Cookie header the API also sends.
		for _, ck := range resp.Cookies() {
			if id == "" || ck.Value == id {
				name, id = ck.Name, ck.Value
				break
			}
		}
	}
	if name == "" || id == "" || !validCookie(name, id) {
		return "", "", &APIError{API: "klicktipp", Op: op, Status: resp.StatusCode, Class: apis.ErrTransient,
			Message: "login answer has no usable sessid and session_name"}
	}
	return name, id, nil
}

// validCookie reports whether name=id can be sent in a Cookie header as is.
func validCookie(name, id string) bool {
	return !strings.ContainsAny(name, "=;, \t\r\n\"") && !strings.ContainsAny(id, ";, \t\r\n\"")
}

func (c *Client) event(e SessionEvent) {
	if c.onSession != nil {
		c.onSession(e)
	}
}

// Relogins reports how many times this session was logged in again after it
// expired.
func (s *Session) Relogins() int { return int(s.relogins.Load()) }

// Logout closes the session: in session mode it calls POST /account/logout;
// later calls do nothing and return nil. In partner mode it only marks the
// Session closed. The logout is never held back by the client's own rate
// limiter (a block must not leave sessions open); when it fails in transit
// (a reset, a timeout, a 5xx) it is tried again up to 8 times, and when the
// API answers 429 it is tried again after the wait the API asked for, for as
// long as ctx allows. An already expired or closed session counts as logged
// out (401, 403, or 406 ["Benutzer nicht eingeloggt."]).
// SessionClosed is reported only once the session is known closed. The
// Session is marked closed even when the call fails (the error is returned).
// If ctx is done before the call starts, Logout returns ctx's error and the
// session stays open, so pass a context that outlives a shutdown
// (context.WithoutCancel) with a deadline. Logout waits for a relogin in
// progress.
func (s *Session) Logout(ctx context.Context) error {
	if err := s.acquire(ctx); err != nil {
		return err
	}
	defer s.release()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	a := auth{name: s.name, id: s.id, hdr: s.hdr, partner: s.c.mode == ModePartner}
	s.mu.Unlock()
	if s.c.mode == ModePartner {
		return nil
	}
	ctx = apis.SkipLimiterWait(ctx)
	transient := 0
	for {
		_, _, err := s.c.send(ctx, http.MethodPost, "/account/logout", nil, a)
		if err == nil || errors.Is(err, apis.ErrUnauthorized) || alreadyLoggedOut(err) {
			// Closed now, or it had already expired (or an earlier try
			// closed it and its answer was lost).
			s.c.event(SessionClosed)
			return nil
		}
		var wait time.Duration
		switch {
		case errors.Is(err, apis.ErrRateLimited):
			wait, _ = apis.RetryAfter(err)
			wait = max(wait, time.Second)
		case errors.Is(err, apis.ErrTransient) && transient < logoutRetries:
			wait = min(logoutRetryBase<<transient, logoutRetryMax)
			transient++
		default:
			return err
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			return err // the wait would outlast ctx: give up now, with the reason
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return err
		}
	}
}

// alreadyLoggedOut reports whether err is KlickTipp's answer to a logout of a
// session that is no longer open: 406 ["Benutzer nicht eingeloggt."].
func alreadyLoggedOut(err error) bool {
	var e *APIError
	return errors.As(err, &e) && e.Status == http.StatusNotAcceptable && e.Code == "" && notLoggedIn[strings.ToLower(strings.TrimSpace(e.Message))]
}

// A logout that fails in transit is retried up to logoutRetries times,
// after 100 ms doubling to at most 2 s (about 10 s in all), while the
// caller's context allows: a session left open costs the account until it
// expires, so a logout is worth more persistence than a data call.
const (
	logoutRetries   = 8
	logoutRetryBase = 100 * time.Millisecond
	logoutRetryMax  = 2 * time.Second
)

func (s *Session) acquire(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case s.lock <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Session) release() { <-s.lock }

// current returns the signing state and its generation.
func (s *Session) current() (auth, uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return auth{}, 0, ErrSessionClosed
	}
	return auth{name: s.name, id: s.id, hdr: s.hdr, partner: s.c.mode == ModePartner}, s.gen, nil
}

// relogin logs in again unless another caller already did since generation
// gen was current.
func (s *Session) relogin(ctx context.Context, gen uint64) error {
	if err := s.acquire(ctx); err != nil {
		return err
	}
	defer s.release()
	s.mu.Lock()
	closed, cur := s.closed, s.gen
	s.mu.Unlock()
	if closed {
		return ErrSessionClosed
	}
	if cur != gen {
		return nil // someone else already logged in again
	}
	name, id, err := s.c.login(ctx)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.name, s.id, s.hdr = name, id, newSessionHeaders(name, id)
	s.gen++
	s.mu.Unlock()
	s.relogins.Add(1)
	s.c.event(SessionRelogin)
	return nil
}

// denied reports whether err is a 401 or 403 answer, whatever its text:
// KlickTipp's official Go client (klicktipp-mcp-binary) logs in again on
// any of them, the Node-RED node logs in afresh for every operation, and
// the API words its denial in English or German.
func denied(err error) bool {
	var e *APIError
	return errors.As(err, &e) && (e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden)
}

// call sends one request with the session's credentials and, in session
// mode, logs in again once and retries on any 401 or 403; only a second
// refusal is final. It returns the 2xx status and body.
func (s *Session) call(ctx context.Context, method, path string, in any) (int, []byte, error) {
	a, gen, err := s.current()
	if err != nil {
		return 0, nil, err
	}
	resp, body, err := s.c.send(ctx, method, path, in, a)
	if s.c.mode == ModeSession && denied(err) {
		if rerr := s.relogin(ctx, gen); rerr != nil {
			return 0, nil, rerr
		}
		if a, _, err = s.current(); err != nil {
			return 0, nil, err
		}
		resp, body, err = s.c.send(ctx, method, path, in, a)
	}
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, body, nil
}
