package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"crmsync/internal/config"
	"crmsync/internal/jobs"
	"crmsync/internal/onboarding"
	"crmsync/internal/vault"
)

const (
	testMasterKey = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	testSecret    = "onboarding-secret-0123456789abcdef"
)

// TestSandboxOnboarding walks the sandbox round trip in-process: the fake
// grant page on HTTP_ADDR redirects to the callback on ONBOARDING_ADDR,
// which stores the key; a job for the account then runs in partner mode.
// A name granted and also defined by the environment stops the next start.
func TestSandboxOnboarding(t *testing.T) {
	env := sandboxEnviron(append(baseEnv(t), "ONBOARDING_ADDR=127.0.0.1:0", "ONBOARDING_PUBLIC_URL=http://127.0.0.1:9",
		"ONBOARDING_SECRET="+testSecret, "ACCOUNTS_MASTER_KEY="+testMasterKey, "KLICKTIPP_PARTNER_ACCOUNT_ID=4711"))
	b := startMode(t, env, true)
	var cbAddr string
	select {
	case cbAddr = <-b.m.live.addr:
	case <-time.After(10 * time.Second):
		t.Fatal("onboarding listener not up")
	}
	nc, err := nats.Connect(recv(t, b.m.natsURL, "the embedded server's URL"), nats.Token(b.m.embedded.Token()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	signer, _ := onboarding.NewSigner(testSecret)
	inv, _ := onboarding.NewInvite("acme", "acme-user", time.Now().Add(time.Hour))
	link := onboarding.Link("http://"+b.http+"/sandbox/klicktipp", "4711", "http://"+cbAddr, signer.Sign(inv))
	hc := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	t.Cleanup(hc.CloseIdleConnections)
	resp, err := hc.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, "http://"+cbAddr+"/klicktipp/grant/") {
		t.Fatalf("grant page: %d %q", resp.StatusCode, loc)
	}
	u, _ := url.Parse(loc)
	key := u.Query().Get("customerkey")
	resp, err = hc.Get(loc)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.Contains(string(page), key) {
		t.Fatalf("callback: %d %s", resp.StatusCode, page)
	}
	_, before := get(t, "http://"+b.http+"/sandbox/klicktipp")

	if _, err := js.Publish(ctx, "crmsync.jobs.contact.upsert", []byte(`{"id":"ob-1","kind":"contact.upsert","target":"klicktipp","account":"acme","contacts":[{"email":"ann@example.com"}]}`)); err != nil {
		t.Fatal(err)
	}
	cons, err := js.OrderedConsumer(ctx, jobs.ResultsStream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := cons.Next(jetstream.FetchContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	var r jobs.Result
	_ = json.Unmarshal(msg.Data(), &r)
	if r.ID != "ob-1" || r.Status != jobs.StatusSucceeded {
		t.Fatalf("result %s", msg.Data())
	}
	_, after := get(t, "http://"+b.http+"/sandbox/klicktipp")
	var s0, s1 struct{ Logins int }
	_ = json.Unmarshal([]byte(before), &s0)
	_ = json.Unmarshal([]byte(after), &s1)
	if s1.Logins != s0.Logins {
		t.Errorf("the onboarded account logged in (%d → %d logins): not partner mode", s0.Logins, s1.Logins)
	}
	_, metrics := get(t, "http://"+b.http+"/metrics")
	if !strings.Contains(metrics, `crmsync_onboarding_callbacks_total{outcome="granted"} 1`) || !strings.Contains(metrics, "crmsync_onboarded_accounts 1") {
		t.Errorf("/metrics lacks the onboarding metrics")
	}

	// "default" is the sandbox's own account: granted as well, the next
	// start stops with a clear line.
	kv, err := js.KeyValue(ctx, vault.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	mk, _ := vault.ParseMasterKey(testMasterKey)
	if _, err := vault.New(kv, mk).Grant(ctx, "default", "u", "customer-key-default"); err != nil {
		t.Fatal(err)
	}
	nc.Close()
	b.stop(t)
	cfg, _ := config.Load(env)
	m := NewMain(cfg, true, io.Discard)
	rctx, rcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer rcancel()
	err = m.Run(rctx)
	_ = m.Close()
	var ce *config.Error
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), `account "default" is defined twice`) {
		t.Errorf("restart with a duplicate name: %v", err)
	}

	// A replica without the master key says loudly that it cannot run them.
	var plain []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, "ONBOARDING_") && !strings.HasPrefix(kv, "ACCOUNTS_MASTER_KEY=") && !strings.HasPrefix(kv, "KLICKTIPP_") {
			plain = append(plain, kv)
		}
	}
	cfg, err = config.Load(plain)
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	m = NewMain(cfg, true, &logs)
	rctx2, rcancel2 := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(rctx2) }()
	select {
	case <-m.running:
	case err := <-done:
		t.Fatalf("Run without the master key: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("runner not started within 20s")
	}
	rcancel2()
	if err := recv(t, done, "Run's return after cancel"); err != nil {
		t.Errorf("Run: %v", err)
	}
	_ = m.Close()
	if !strings.Contains(logs.String(), "ACCOUNTS_MASTER_KEY is not set") || !strings.Contains(logs.String(), "acme") {
		t.Errorf("no warning about the onboarded accounts:\n%s", logs.String())
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestSandboxEnviron(t *testing.T) {
	if got := sandboxEnviron([]string{"A=1"}); len(got) != 1 {
		t.Errorf("without onboarding: %v", got)
	}
	got := sandboxEnviron([]string{"ONBOARDING_ADDR=:8081", "KLICKTIPP_DEVELOPER_KEY_FILE=/x"})
	if strings.Join(got, " ") != "ONBOARDING_ADDR=:8081 KLICKTIPP_DEVELOPER_KEY=5eed0123456789abcdef5eed0123456789abcdef" {
		t.Errorf("with onboarding: %v", got)
	}
}

func TestOnboardingMissingSettingExitsTwo(t *testing.T) {
	for _, env := range [][]string{
		{"ONBOARDING_ADDR=127.0.0.1:0", "HTTP_ADDR=127.0.0.1:0"},
		{"ACCOUNTS_MASTER_KEY=" + testMasterKey, "HTTP_ADDR=127.0.0.1:0"},
	} {
		if code := run(nil, env); code != 2 {
			t.Errorf("run(%v) = %d, want 2", env, code)
		}
	}
}
