package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"crmsync/internal/broker/brokertest"
	"crmsync/internal/console"
	"crmsync/internal/jobs"
)

const password = "a long enough password"

// bundle is a console over a real JetStream server, served by httptest.
type bundle struct {
	t     *testing.T
	js    jetstream.JetStream
	con   *console.Console
	srv   *httptest.Server
	audit *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func setup(t *testing.T, cfg console.Config) *bundle {
	t.Helper()
	srv := brokertest.Start(t)
	_, js := srv.Connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := jobs.Setup(ctx, js, jobs.StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	audit := &syncBuffer{}
	cfg.Logger = slog.New(slog.NewTextHandler(audit, nil))
	con, err := console.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	con.SetJetStream(js)
	hs := httptest.NewServer(con)
	t.Cleanup(hs.Close)
	return &bundle{t: t, js: js, con: con, srv: hs, audit: audit}
}

// client is a browser-like client with a cookie jar that does not follow
// redirects.
func (b *bundle) client() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 15 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func (b *bundle) do(c *http.Client, method, path string, form url.Values, hdr map[string]string) (*http.Response, string) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.srv.URL+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp, string(data)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrfOf returns the first CSRF token in a page.
func csrfOf(t *testing.T, page string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token in page:\n%s", page)
	}
	return m[1]
}

// login logs c in and returns the session's CSRF token.
func (b *bundle) login(c *http.Client) string {
	b.t.Helper()
	_, page := b.do(c, "GET", "/console/login", nil, nil)
	resp, body := b.do(c, "POST", "/console/login", url.Values{"csrf": {csrfOf(b.t, page)}, "password": {password}, "next": {"/console/"}}, nil)
	if resp.StatusCode != http.StatusSeeOther {
		b.t.Fatalf("login: %d %s", resp.StatusCode, body)
	}
	_, page = b.do(c, "GET", "/console/", nil, nil)
	return csrfOf(b.t, page)
}

// deadLetter publishes a dead letter as the worker writes one.
func (b *bundle) deadLetter(kind jobs.Kind, id, account, reason string) {
	b.t.Helper()
	body, _ := json.Marshal(map[string]any{"id": id, "kind": kind, "account": account, "target": "klipy",
		"contacts": []map[string]string{{"email": id + "@example.com"}}})
	m := &nats.Msg{Subject: jobs.DeadLetterSubject(kind), Data: body, Header: nats.Header{}}
	m.Header.Set(jobs.HeaderJobID, id)
	m.Header.Set(jobs.HeaderError, reason)
	m.Header.Set(jobs.HeaderAttempts, "3")
	m.Header.Set(jobs.HeaderOriginalSubject, kind.Subject())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := b.js.PublishMsg(ctx, m); err != nil {
		b.t.Fatal(err)
	}
}

func (b *bundle) count(stream string) uint64 {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := b.js.Stream(ctx, stream)
	if err != nil {
		b.t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		b.t.Fatal(err)
	}
	return info.State.Msgs
}
