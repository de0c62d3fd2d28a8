package klicktipp_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"crmsync/internal/apis"
	"crmsync/internal/apis/klicktipp"
	"crmsync/internal/apis/klicktipp/klicktipptest"
)

// TestAuthModesEndToEnd runs a whole job's worth of calls in each mode and
// checks what went over the wire.
func TestAuthModesEndToEnd(t *testing.T) {
	modes(t, func(t *testing.T, partner bool) {
		b := setup(t, setupOpts{partner: partner})
		ctx := t.Context()
		s, err := b.client.Login(ctx)
		if err != nil {
			t.Fatalf("Login: %v", err)
		}
		sub, err := s.Subscribe(ctx, klicktipp.SubscribeRequest{Email: "ann@example.com", ListID: klicktipptest.ListID,
			Fields: map[string]string{"fieldFirstName": "Ann"}})
		if err != nil {
			t.Fatalf("Subscribe: %v", err)
		}
		if err := s.Tag(ctx, "ann@example.com", []int64{klicktipptest.TagVIP}); err != nil {
			t.Fatalf("Tag: %v", err)
		}
		if id, err := s.Search(ctx, "ann@example.com"); err != nil || id != sub.ID {
			t.Fatalf("Search = %d, %v; want %d", id, err, sub.ID)
		}
		if err := s.Logout(ctx); err != nil {
			t.Fatalf("Logout: %v", err)
		}
		if err := s.Logout(ctx); err != nil {
			t.Fatalf("second Logout: %v", err)
		}
		if _, err := s.Tags(ctx); !errors.Is(err, klicktipp.ErrSessionClosed) {
			t.Fatalf("Tags after Logout = %v, want ErrSessionClosed", err)
		}

		wantLogins := 1
		if partner {
			wantLogins = 0
		}
		if b.srv.Logins() != wantLogins || b.srv.Logouts() != wantLogins || b.srv.OpenSessions() != 0 {
			t.Fatalf("logins %d logouts %d open %d; want %d %d 0", b.srv.Logins(), b.srv.Logouts(), b.srv.OpenSessions(), wantLogins, wantLogins)
		}
		if n := b.srv.Count(http.MethodPost, "/account/logout"); n != wantLogins {
			t.Fatalf("%d logout requests, want %d", n, wantLogins)
		}
		for _, r := range b.srv.Requests() {
			if r.Path == "/account/login" {
				continue
			}
			if partner {
				if r.Header.Get("X-Un") != klicktipptest.Username || r.Header.Get("X-Ci") == "" || r.Header.Get("Cookie") != "" {
					t.Errorf("%s %s: partner headers wrong: %v", r.Method, r.Path, r.Header)
				}
				continue
			}
			c, sid := r.Header.Get("Cookie"), r.Header.Get("X-Session-Id")
			if sid == "" || c != klicktipptest.SessionName+"="+sid || r.Header.Get("X-Ci") != "" {
				t.Errorf("%s %s: session headers wrong: Cookie %q X-Session-Id %q", r.Method, r.Path, c, sid)
			}
		}
	})
}

func TestWrongCredentials(t *testing.T) {
	t.Parallel()
	t.Run("session", func(t *testing.T) {
		t.Parallel()
		b := setup(t, setupOpts{cfg: func(c *klicktipp.Config) { c.Password = "wrong" }})
		_, err := b.client.Login(t.Context())
		var ae *klicktipp.APIError
		if !errors.Is(err, apis.ErrUnauthorized) || !errors.As(err, &ae) || ae.Status != 401 {
			t.Fatalf("Login = %v, want 401 ErrUnauthorized", err)
		}
		if want := "klicktipp: POST /account/login: 401: Wrong username or password."; err.Error() != want {
			t.Fatalf("error %q, want %q", err, want)
		}
		if b.srv.Logins() != 0 || b.srv.OpenSessions() != 0 {
			t.Fatalf("logins %d open %d", b.srv.Logins(), b.srv.OpenSessions())
		}
	})
	t.Run("partner", func(t *testing.T) {
		t.Parallel()
		b := setup(t, setupOpts{partner: true, cfg: func(c *klicktipp.Config) { c.CustomerKey = "someone-else" }})
		s := b.login(t) // no call in partner mode
		_, err := s.Tags(t.Context())
		if !errors.Is(err, apis.ErrUnauthorized) {
			t.Fatalf("Tags = %v, want ErrUnauthorized", err)
		}
		if s.Relogins() != 0 || b.srv.Count("", "/account/login") != 0 || b.srv.Count("", "/tag") != 1 {
			t.Fatalf("partner mode retried: relogins %d, requests %v", s.Relogins(), len(b.srv.Requests()))
		}
	})
}

func TestSessionExpiryReloginsOnce(t *testing.T) {
	for _, tc := range []struct {
		status int
		lang   klicktipptest.Language
	}{{http.StatusForbidden, klicktipptest.English}, {http.StatusUnauthorized, klicktipptest.English},
		{http.StatusForbidden, klicktipptest.German}, {http.StatusUnauthorized, klicktipptest.German}} {
		status := tc.status
		name := http.StatusText(status)
		if tc.lang == klicktipptest.German {
			name += " German" // 403 ["API Zugriff verweigert"], as recorded in klicktipp-php-client
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var events []klicktipp.SessionEvent
			var mu sync.Mutex
			b := setup(t, setupOpts{
				fake: []klicktipptest.Option{klicktipptest.WithDeniedStatus(status), klicktipptest.WithLanguage(tc.lang)},
				cfg: func(c *klicktipp.Config) {
					c.OnSession = func(e klicktipp.SessionEvent) { mu.Lock(); events = append(events, e); mu.Unlock() }
				},
			})
			ctx := t.Context()
			s, err := b.client.Login(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Tags(ctx); err != nil {
				t.Fatal(err)
			}
			b.srv.ExpireSessions()
			tags, err := s.Tags(ctx)
			if err != nil {
				t.Fatalf("Tags after expiry: %v", err)
			}
			if tags[klicktipptest.TagNewsletter] != "newsletter" {
				t.Fatalf("tags = %v", tags)
			}
			if s.Relogins() != 1 || b.srv.Logins() != 2 {
				t.Fatalf("relogins %d, logins %d; want 1, 2", s.Relogins(), b.srv.Logins())
			}
			if err := s.Logout(ctx); err != nil {
				t.Fatal(err)
			}
			if b.srv.Logouts() != 1 || b.srv.OpenSessions() != 0 {
				t.Fatalf("logouts %d open %d; want 1, 0", b.srv.Logouts(), b.srv.OpenSessions())
			}
			// The request after relogin carried the new session.
			reqs := b.srv.Requests()
			if len(reqs) != 6 {
				t.Fatalf("%d requests, want 6 (login, tag, tag denied, login, tag, logout)", len(reqs))
			}
			if reqs[2].Status != status || reqs[4].Status != 200 || reqs[2].Header.Get("X-Session-Id") == reqs[4].Header.Get("X-Session-Id") {
				t.Fatalf("retry did not use a new session: %d %d", reqs[2].Status, reqs[4].Status)
			}
			mu.Lock()
			defer mu.Unlock()
			want := []klicktipp.SessionEvent{klicktipp.SessionOpened, klicktipp.SessionRelogin, klicktipp.SessionClosed}
			if len(events) != len(want) || events[0] != want[0] || events[1] != want[1] || events[2] != want[2] {
				t.Fatalf("events %v, want %v", events, want)
			}
		})
	}
}

// TestSessionDoubleExpiry: a session that is denied again right after the
// relogin fails with ErrUnauthorized instead of looping.
func TestSessionDoubleExpiry(t *testing.T) {
	t.Parallel()
	// Every reading of the fake's clock is an hour later than the last, so
	// every session has expired (30 min idle TTL) by its first use.
	var hours atomic.Int64
	clock := func() time.Time { return time.Unix(1_700_000_000, 0).Add(time.Duration(hours.Add(1)) * time.Hour) }
	b := setup(t, setupOpts{fake: []klicktipptest.Option{klicktipptest.WithSessionTTL(30 * time.Minute), klicktipptest.WithClock(clock)}})
	s := b.login(t)
	_, err := s.Subscribe(t.Context(), klicktipp.SubscribeRequest{Email: "ann@example.com"})
	var ae *klicktipp.APIError
	if !errors.Is(err, apis.ErrUnauthorized) || !errors.As(err, &ae) || ae.Status != http.StatusForbidden {
		t.Fatalf("Subscribe = %v, want 403 ErrUnauthorized", err)
	}
	if s.Relogins() != 1 || b.srv.Logins() != 2 || b.srv.Count(http.MethodPost, "/subscriber") != 2 {
		t.Fatalf("relogins %d logins %d subscribe requests %d; want 1, 2, 2", s.Relogins(), b.srv.Logins(), b.srv.Count(http.MethodPost, "/subscriber"))
	}
	if len(b.srv.Subscribers()) != 0 {
		t.Fatal("a denied request changed state")
	}
	// Logout of an expired session is not an error.
	if err := s.Logout(t.Context()); err != nil {
		t.Fatalf("Logout: %v", err)
	}
}

func TestSessionTTLIdleExpiry(t *testing.T) {
	t.Parallel()
	var now atomic.Int64
	now.Store(1_700_000_000)
	clock := func() time.Time { return time.Unix(now.Load(), 0) }
	b := setup(t, setupOpts{fake: []klicktipptest.Option{klicktipptest.WithSessionTTL(time.Minute), klicktipptest.WithClock(clock)}})
	s := b.login(t)
	for i := 0; i < 3; i++ { // used every 50 s: stays alive
		now.Add(50)
		if _, err := s.Fields(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if s.Relogins() != 0 {
		t.Fatalf("relogins %d while in use", s.Relogins())
	}
	now.Add(61)
	if b.srv.OpenSessions() != 0 {
		t.Fatal("idle session not expired")
	}
	if _, err := s.Fields(t.Context()); err != nil || s.Relogins() != 1 {
		t.Fatalf("Fields = %v, relogins %d", err, s.Relogins())
	}
}

func TestLogoutInvalidatesSession(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	s := b.login(t)
	if _, err := s.Lists(t.Context()); err != nil {
		t.Fatal(err)
	}
	sid := b.srv.Requests()[1].Header.Get("X-Session-Id")
	if err := s.Logout(t.Context()); err != nil {
		t.Fatal(err)
	}
	// The old session id no longer works on the wire.
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, b.srv.URL+"/list", nil)
	req.Header.Set("Cookie", klicktipptest.SessionName+"="+sid)
	resp, err := b.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("old session answered %d, want 403", resp.StatusCode)
	}
	if b.srv.Logins() != 1 || b.srv.Logouts() != 1 || b.srv.OpenSessions() != 0 {
		t.Fatalf("logins %d logouts %d open %d", b.srv.Logins(), b.srv.Logouts(), b.srv.OpenSessions())
	}
}

// TestConcurrentExpiryOneRelogin: many callers that hit the same expiry
// share one relogin.
func TestConcurrentExpiryOneRelogin(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	s := b.login(t)
	b.srv.ExpireSessions()
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := 0; i < 20; i++ {
		wg.Go(func() {
			_, err := s.Tags(t.Context())
			errs <- err
		})
	}
	waitGroup(t, &wg, "the 20 callers sharing one relogin")
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if s.Relogins() != 1 || b.srv.Logins() != 2 {
		t.Fatalf("relogins %d logins %d; want 1, 2", s.Relogins(), b.srv.Logins())
	}
	lctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Logout(lctx); err != nil {
		t.Fatalf("Logout: %v", err)
	}
	if b.srv.OpenSessions() != 0 {
		t.Fatalf("%d sessions left open", b.srv.OpenSessions())
	}
}

// waitGroup waits for wg, failing the test after 30 s with what it waited
// for: a client call that never returns must not hang the package.
func waitGroup(t *testing.T, wg *sync.WaitGroup, what string) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s: not done within 30s", what)
	}
}

// TestManySessionsCountsMatch: one session per job, every login has its logout.
func TestManySessionsCountsMatch(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	var wg sync.WaitGroup
	for i := 0; i < 10; i++ {
		wg.Go(func() {
			s, err := b.client.Login(t.Context())
			if err != nil {
				t.Error(err)
				return
			}
			defer func() {
				if err := s.Logout(context.WithoutCancel(t.Context())); err != nil {
					t.Error(err)
				}
			}()
			if _, err := s.Subscribe(t.Context(), klicktipp.SubscribeRequest{Email: "same@example.com"}); err != nil {
				t.Error(err)
			}
		})
	}
	waitGroup(t, &wg, "the 10 sessions' subscribe and logout")
	if b.srv.Logins() != 10 || b.srv.Logouts() != 10 || b.srv.OpenSessions() != 0 {
		t.Fatalf("logins %d logouts %d open %d; want 10 10 0", b.srv.Logins(), b.srv.Logouts(), b.srv.OpenSessions())
	}
	if n := len(b.srv.Subscribers()); n != 1 {
		t.Fatalf("%d subscribers, want 1 (upsert by email)", n)
	}
}

func TestLogoutHonoursContext(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	s := b.login(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.Logout(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Logout with cancelled ctx = %v", err)
	}
	if err := s.Logout(t.Context()); err != nil {
		t.Fatalf("Logout: %v", err)
	}
	if b.srv.Logouts() != 1 {
		t.Fatalf("logouts %d", b.srv.Logouts())
	}
}

// TestAnyDenialRelogins: in session mode a 403 whose text is neither known
// denial (KlickTipp's official clients log in again on any 401/403) still
// gets one relogin and one retry; only the second refusal is final.
func TestAnyDenialRelogins(t *testing.T) {
	t.Parallel()
	var tagCalls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/account/login":
			_, _ = w.Write([]byte(`{"sessid":"sid-0123456789","session_name":"SSESSx"}`))
		case "/tag":
			if tagCalls.Add(1) == 1 {
				w.WriteHeader(http.StatusForbidden)
				_, _ = w.Write([]byte(`["Sitzung abgelaufen."]`))
				return
			}
			_, _ = w.Write([]byte(`{"17":"customer"}`))
		default:
			_, _ = w.Write([]byte(`[true]`))
		}
	}))
	t.Cleanup(srv.Close)
	c, err := klicktipp.New(klicktipp.Config{BaseURL: srv.URL, Username: "u", Password: "p", HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.Login(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	tags, err := s.Tags(t.Context())
	if err != nil || tags[17] != "customer" || s.Relogins() != 1 {
		t.Fatalf("Tags = %v, %v after %d relogins; want the tags after 1 relogin", tags, err, s.Relogins())
	}
}

// TestLogoutAlreadyLoggedOut: KlickTipp answers a logout of a closed session
// with 406 ["Benutzer nicht eingeloggt."] (klicktipp-php-client's recorded
// answer); that is a closed session, not an error, and is counted closed.
func TestLogoutAlreadyLoggedOut(t *testing.T) {
	for _, lang := range []klicktipptest.Language{klicktipptest.German, klicktipptest.English} {
		t.Run(fmt.Sprint(lang), func(t *testing.T) {
			t.Parallel()
			var closed atomic.Int32
			b := setup(t, setupOpts{fake: []klicktipptest.Option{klicktipptest.WithLanguage(lang)},
				cfg: func(c *klicktipp.Config) {
					c.OnSession = func(e klicktipp.SessionEvent) {
						if e == klicktipp.SessionClosed {
							closed.Add(1)
						}
					}
				}})
			s, err := b.client.Login(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			b.srv.ExpireSessions()
			if err := s.Logout(t.Context()); err != nil {
				t.Fatalf("Logout of an expired session: %v", err)
			}
			reqs := b.srv.Requests()
			if last := reqs[len(reqs)-1]; last.Path != "/account/logout" || last.Status != http.StatusNotAcceptable {
				t.Fatalf("last request %s %d, want the logout answered 406", last.Path, last.Status)
			}
			if closed.Load() != 1 {
				t.Fatalf("SessionClosed reported %d times, want 1", closed.Load())
			}
		})
	}
}
