package console

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Cookie names.
const (
	sessionCookie = "crmsync_console"
	loginCookie   = "crmsync_console_login" // binds the login form's CSRF token
)

// session is a verified session cookie: its nonce binds CSRF tokens.
type session struct{ nonce string }

func (c *Console) sign(parts ...string) string {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte(strings.Join(parts, "|")))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func nonce() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newSession returns a cookie value "<expiry unix>.<nonce>.<mac>".
func (c *Console) newSession(now time.Time) string {
	exp := strconv.FormatInt(now.Add(c.cfg.SessionTTL).Unix(), 10)
	n := nonce()
	return exp + "." + n + "." + c.sign("session", exp, n)
}

// sessionOf returns the request's valid session; an open console has one
// session for everyone.
func (c *Console) sessionOf(r *http.Request) (session, bool) {
	if c.open {
		return session{nonce: "open"}, true
	}
	ck, err := r.Cookie(sessionCookie)
	if err != nil {
		return session{}, false
	}
	p := strings.Split(ck.Value, ".")
	if len(p) != 3 {
		return session{}, false
	}
	if !hmac.Equal([]byte(p[2]), []byte(c.sign("session", p[0], p[1]))) {
		return session{}, false
	}
	exp, err := strconv.ParseInt(p[0], 10, 64)
	if err != nil || time.Now().Unix() >= exp {
		return session{}, false
	}
	return session{nonce: p[1]}, true
}

// csrf returns the CSRF token of a session.
func (c *Console) csrf(s session) string { return c.sign("csrf", s.nonce) }

// secure reports whether the request came over TLS (directly or through
// a proxy that says so), so that cookies get the Secure flag.
func secure(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

func setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: Prefix, MaxAge: maxAge,
		HttpOnly: true, Secure: secure(r), SameSite: http.SameSiteStrictMode})
}

// authed sends requests without a session to the login form (pages) or
// answers 401 (anything else).
func (c *Console) authed(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := c.sessionOf(r); !ok {
			if r.Method == http.MethodGet && r.Header.Get("X-Console-Live") == "" {
				http.Redirect(w, r, Prefix+"login?next="+safeNext(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			http.Error(w, "not logged in", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// safeNext keeps only a path under the console, for redirects after login.
func safeNext(p string) string {
	if !strings.HasPrefix(p, Prefix) || strings.HasPrefix(p, "//") || strings.Contains(p, "\\") {
		return Prefix
	}
	return p
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	if c.open {
		http.Redirect(w, r, Prefix, http.StatusSeeOther)
		return
	}
	n := nonce()
	setCookie(w, r, loginCookie, n, 600)
	c.render(w, r, http.StatusOK, "login", &view{Title: "Log in", CSRF: c.sign("login", n), Next: safeNext(r.URL.Query().Get("next"))})
}

func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	if c.open {
		http.Redirect(w, r, Prefix, http.StatusSeeOther)
		return
	}
	ck, err := r.Cookie(loginCookie)
	if err != nil || !hmac.Equal([]byte(r.PostFormValue("csrf")), []byte(c.sign("login", ck.Value))) {
		c.audit(r, "login", "refused: missing or bad CSRF token")
		http.Error(w, "bad or missing CSRF token: reload the login page", http.StatusForbidden)
		return
	}
	given := sha256.Sum256([]byte(r.PostFormValue("password")))
	want := sha256.Sum256([]byte(c.cfg.Password))
	if subtle.ConstantTimeCompare(given[:], want[:]) != 1 {
		if !c.logins.Allow() {
			c.audit(r, "login", "throttled")
			http.Error(w, "too many failed logins; wait a few seconds", http.StatusTooManyRequests)
			return
		}
		c.audit(r, "login", "wrong password")
		n := nonce()
		setCookie(w, r, loginCookie, n, 600)
		c.render(w, r, http.StatusUnauthorized, "login", &view{Title: "Log in", CSRF: c.sign("login", n),
			Next: safeNext(r.PostFormValue("next")), Error: "Wrong password."})
		return
	}
	setCookie(w, r, loginCookie, "", -1)
	setCookie(w, r, sessionCookie, c.newSession(time.Now()), int(c.cfg.SessionTTL.Seconds()))
	c.audit(r, "login", "ok")
	http.Redirect(w, r, safeNext(r.PostFormValue("next")), http.StatusSeeOther)
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	setCookie(w, r, sessionCookie, "", -1)
	c.audit(r, "logout", "ok")
	http.Redirect(w, r, Prefix+"login", http.StatusSeeOther)
}

// action wraps a state change: a session, a POST with the session's CSRF
// token, and (when changes is set) not ReadOnly.
func (c *Console) action(h http.HandlerFunc, changes bool) http.Handler {
	return c.authed(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, _ := c.sessionOf(r)
		if !hmac.Equal([]byte(r.PostFormValue("csrf")), []byte(c.csrf(s))) {
			c.audit(r, actionName(r), "refused: missing or bad CSRF token")
			c.render(w, r, http.StatusForbidden, "error", &view{Title: "Refused",
				Error: "Refused: the request carried no valid CSRF token. Go back, reload the page and try again."})
			return
		}
		if changes && c.cfg.ReadOnly {
			c.audit(r, actionName(r), "refused: read-only")
			c.render(w, r, http.StatusForbidden, "error", &view{Title: "Read-only", Error: "This console is read-only (CONSOLE_READ_ONLY)."})
			return
		}
		h(w, r)
	}))
}

func actionName(r *http.Request) string { return strings.TrimPrefix(r.URL.Path, Prefix) }

// audit logs one action; never a secret (the password is not logged).
func (c *Console) audit(r *http.Request, action, outcome string, args ...any) {
	c.log.Info("console audit", append([]any{"action", action, "outcome", outcome, "remote", r.RemoteAddr}, args...)...)
}
