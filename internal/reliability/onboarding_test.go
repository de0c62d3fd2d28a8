package reliability

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"crmsync/internal/apis/klicktipp/klicktipptest"
	"crmsync/internal/jobs"
	"crmsync/internal/onboarding"
	"crmsync/internal/vault"
)

var (
	enqueueOnce sync.Once
	enqueueBin  string
	enqueueErr  error
)

// enqueueBinary builds cmd/enqueue once per test binary.
func enqueueBinary(t *testing.T) string {
	t.Helper()
	enqueueOnce.Do(func() {
		enqueueBin = filepath.Join(binDir, "enqueue")
		if out, err := exec.Command("go", "build", "-o", enqueueBin, "crmsync/cmd/enqueue").CombinedOutput(); err != nil {
			enqueueErr = fmt.Errorf("building enqueue: %v\n%s", err, out)
		}
	})
	if enqueueErr != nil {
		t.Fatal(enqueueErr)
	}
	return enqueueBin
}

// runEnqueue runs the enqueue binary with exactly env and returns its exit
// code, stdout and stderr.
func runEnqueue(t *testing.T, env []string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, enqueueBinary(t), args...)
	cmd.Env = env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("enqueue %v: %v", args, err)
		}
		code = ee.ExitCode()
	}
	return code, out.String(), errb.String()
}

// browser follows links the way a browser would, but one hop at a time.
type browser struct {
	t  *testing.T
	hc *http.Client
}

func newBrowser(t *testing.T) *browser {
	hc := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return &browser{t: t, hc: hc}
}

func (b *browser) get(u string) (int, http.Header, string) {
	b.t.Helper()
	resp, err := b.hc.Get(u)
	if err != nil {
		b.t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(body)
}

// grant opens an invite link: the fake grant page redirects to the
// callback with a fresh customer key, which the browser follows. It returns
// the key and the callback's answer.
func (b *browser) grant(link string) (key string, status int, page string) {
	b.t.Helper()
	st, h, body := b.get(link)
	if st != http.StatusFound {
		b.t.Fatalf("grant page %s: %d %s", link, st, body)
	}
	loc := h.Get("Location")
	u, err := url.Parse(loc)
	if err != nil {
		b.t.Fatal(err)
	}
	key = u.Query().Get("customerkey")
	status, _, page = b.get(loc)
	return key, status, page
}

// xciFor is X-Ci as DESIGN.md defines it.
func xciFor(developerKey, customerKey string) string {
	k, _ := hex.DecodeString(developerKey)
	mac := hmac.New(sha256.New, k)
	mac.Write([]byte(customerKey))
	return base64.StdEncoding.EncodeToString(append(mac.Sum(nil), customerKey...))
}

// grantLag is how long after replica A's "klicktipp access granted" line
// replica B logged the account live, by the lines' own times (a figure
// for the report, not asserted).
func grantLag(t *testing.T, a, b *logBook, bLine string) time.Duration {
	t.Helper()
	lines, _ := a.snapshot()
	var granted string
	for _, l := range lines {
		if logMsg("klicktipp access granted")(l) {
			granted = l // the latest
		}
	}
	ta, errA := time.Parse(time.RFC3339Nano, logAttr(granted, "time"))
	tb, errB := time.Parse(time.RFC3339Nano, logAttr(bLine, "time"))
	if errA != nil || errB != nil {
		t.Logf("grant lag: cannot read the log times (%v, %v)", errA, errB)
		return -1
	}
	return tb.Sub(ta)
}

// bucketKeys lists the keys of CRMSYNC_ACCOUNTS.
func bucketKeys(t *testing.T, kv jetstream.KeyValue) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	keys, err := kv.Keys(ctx)
	if err != nil && err != jetstream.ErrNoKeysFound {
		t.Fatal(err)
	}
	sort.Strings(keys)
	return keys
}

// TestOnboarding runs partner onboarding end to end: two worker replicas on
// one nats-server, the fake KlickTipp and its grant page in the test
// process, invites made by the real enqueue binary. Replica A serves the
// callback; B only watches the accounts bucket and is never restarted.
//
//  1. invite → grant page → callback: the key is stored; with A stopped, a
//     job for the new account runs on B in partner mode (right X-Un and
//     X-Ci, no login);
//  2. the same link again, an expired one, a tampered one, and a flood of
//     requests get 409, 410, 403 and 429 and store nothing;
//  3. revoke: B's next job for the account is dead-lettered;
//  4. a new invite used first with a key KlickTipp rejects (422, nothing
//     stored) and then through the grant page: B runs the next job with
//     the new key;
//  5. no customer key, master key, secret or developer key is in any
//     stream, bucket, log line or /metrics in plain text.
func TestOnboarding(t *testing.T) {
	needWorker(t)
	enqueueBinary(t)
	fig := record(t)
	secrets := map[string]string{
		"ACCOUNTS_MASTER_KEY":     randHex(64),
		"ONBOARDING_SECRET":       "CANARYonb" + randHex(40),
		"KLICKTIPP_DEVELOPER_KEY": "ca7a" + randHex(36),
	}
	devKey := secrets["KLICKTIPP_DEVELOPER_KEY"]
	kt := klicktipptest.NewServer(klicktipptest.WithPartnerKeys(devKey, "CANARYseeded"+randHex(16)))
	t.Cleanup(kt.Close)
	// The grant page, mounted where `worker -sandbox` serves it.
	mux := http.NewServeMux()
	mux.Handle("GET /sandbox/klicktipp/grantapiaccess/{id}", kt.GrantPage())
	grantPage := httptest.NewServer(mux)
	t.Cleanup(grantPage.Close)

	n := startNATS(t, "", "")
	_, js := connect(t, n.url())
	cbPort := freePort(t)
	public := fmt.Sprintf("http://127.0.0.1:%d", cbPort)
	common := []string{"LOG_LEVEL=debug", "KLICKTIPP_BASE_URL=" + kt.URL,
		"KLICKTIPP_DEVELOPER_KEY=" + devKey, "ACCOUNTS_MASTER_KEY=" + secrets["ACCOUNTS_MASTER_KEY"],
		"WORKER_MAX_ATTEMPTS=2"}
	a := newWorker(t, workerEnv(n.url(), append(common, fmt.Sprintf("ONBOARDING_ADDR=127.0.0.1:%d", cbPort),
		"ONBOARDING_PUBLIC_URL="+public, "ONBOARDING_SECRET="+secrets["ONBOARDING_SECRET"], "KLICKTIPP_PARTNER_ACCOUNT_ID=4711")...))
	bw := newWorker(t, workerEnv(n.url(), common...))
	a.start()
	if _, ok := a.awaitRun("onboarding listening", 20*time.Second); !ok {
		t.Fatalf("replica A: no onboarding listener:\n%s", tail(a.book, 20))
	}
	bw.start()
	if _, ok := bw.awaitRun("worker started", 20*time.Second); !ok {
		t.Fatalf("replica B did not start:\n%s", tail(bw.book, 20))
	}
	fig.Restarts++
	kv, err := js.KeyValue(context.Background(), vault.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	enq := []string{"NATS_URL=" + n.url(), "KLICKTIPP_PARTNER_ACCOUNT_ID=4711", "ONBOARDING_PUBLIC_URL=" + public,
		"ONBOARDING_SECRET=" + secrets["ONBOARDING_SECRET"], "KLICKTIPP_APP_URL=" + grantPage.URL + "/sandbox/klicktipp"}
	invite := func(account, user string) string {
		t.Helper()
		code, out, errs := runEnqueue(t, enq, "accounts", "invite", "-account", account, "-username", user)
		link := strings.TrimSpace(out)
		if code != 0 || !strings.HasPrefix(link, grantPage.URL+"/sandbox/klicktipp/grantapiaccess/4711?url=") {
			t.Fatalf("invite: exit %d %q %s", code, out, errs)
		}
		return link
	}
	br := newBrowser(t)
	res := watch(t, js, jobs.ResultsStream)
	dlq := watch(t, js, jobs.DLQStream)
	job := func(id string) {
		publish(t, js, jobs.KindContactUpsert.Subject(), mustJSON(t, map[string]any{
			"id": id, "kind": "contact.upsert", "target": "klicktipp", "account": "acme",
			"contacts": []any{map[string]any{"email": id + "@example.com", "tags": []any{"newsletter"}}}}), id)
		fig.Jobs++
	}
	// doneInPartnerMode checks job id succeeded and that every KlickTipp
	// request it made carried X-Un acme-user and the X-Ci of key.
	doneInPartnerMode := func(id, key string) {
		t.Helper()
		if !res.await(30*time.Second, func(m []message) bool { return len(results(t, m)[id]) > 0 }) {
			t.Fatalf("job %s: no result within 30s:\n%s", id, tail(bw.book, 20))
		}
		if r := results(t, func() []message { m, _ := res.snapshot(); return m }())[id][0]; r.Status != jobs.StatusSucceeded {
			t.Fatalf("job %s: %+v", id, r)
		}
		want, calls := xciFor(devKey, key), 0
		for _, q := range kt.Requests() {
			if q.Path == "/subscriber" && strings.Contains(string(q.Body), id+"@example.com") {
				calls++
				if q.Header.Get("X-Un") != "acme-user" || q.Header.Get("X-Ci") != want || q.Status != 200 {
					t.Errorf("job %s: request with X-Un %q, X-Ci right %v, status %d", id, q.Header.Get("X-Un"), q.Header.Get("X-Ci") == want, q.Status)
				}
			}
		}
		if calls == 0 {
			t.Errorf("job %s made no POST /subscriber", id)
		}
	}

	// 1. Grant through the grant page, then run a job on B alone.
	link1 := invite("acme", "acme-user")
	from := bw.book.len()
	key1, status, page := br.grant(link1)
	if status != 200 || !strings.Contains(page, "granted") || strings.Contains(page, key1) {
		t.Fatalf("callback: %d %s", status, page)
	}
	liveB, ok := bw.book.await(from, 10*time.Second, func(l string) bool {
		return logMsg("onboarded account live")(l) && logAttr(l, "account") == "acme"
	})
	if !ok {
		t.Fatalf("replica B did not take the grant:\n%s", tail(bw.book, 20))
	}
	lags := []time.Duration{grantLag(t, a.book, bw.book, liveB)}
	stored := bucketKeys(t, kv)
	if len(stored) != 2 || stored[0] != "account.acme" || !strings.HasPrefix(stored[1], "token.") {
		t.Fatalf("bucket after the grant: %v", stored)
	}

	// 2. Refusals, on A's callback, store nothing.
	u1, _ := url.Parse(link1)
	cb1, _ := url.Parse(u1.Query().Get("url"))
	if st, _, pg := br.get(cb1.String() + "?customerkey=" + key1); st != 409 || !strings.Contains(pg, "already used") {
		t.Errorf("same link again: %d %s", st, pg)
	}
	signer, _ := onboarding.NewSigner(secrets["ONBOARDING_SECRET"])
	expired, _ := onboarding.NewInvite("late", "late-user", time.Now().Add(-time.Minute))
	if st, _, pg := br.get(onboarding.RedirectURL(public, signer.Sign(expired)) + "?customerkey=" + key1); st != 410 || !strings.Contains(pg, "expired") {
		t.Errorf("expired link: %d %s", st, pg)
	}
	tok := strings.TrimPrefix(cb1.Path, onboarding.CallbackPrefix)
	tampered := strings.Replace(tok, `.`, `A.`, 1)
	if st, _, pg := br.get(public + onboarding.CallbackPrefix + tampered + "?customerkey=" + key1); st != 403 || !strings.Contains(pg, "not valid") {
		t.Errorf("tampered link: %d %s", st, pg)
	}
	flood := map[int]int{}
	for i := range 30 {
		st, _, _ := br.get(fmt.Sprintf("%s/klicktipp/grant/junk%d.sig?customerkey=%s", public, i, key1))
		flood[st]++
	}
	if flood[429] < 20 || flood[403]+flood[429] != 30 {
		t.Errorf("flood of 30 requests: %v, want 403s then at least 20 429s", flood)
	}
	if got := bucketKeys(t, kv); strings.Join(got, " ") != strings.Join(stored, " ") {
		t.Errorf("refusals changed the bucket: %v → %v", stored, got)
	}
	if code, _ := a.p.term(t, 30*time.Second); code != 0 {
		t.Errorf("replica A exit %d", code)
	}
	logins := kt.Count("POST", "/account/login")
	job("ob-1")
	doneInPartnerMode("ob-1", key1)

	// 3. Revoke: B dead-letters the account's next job.
	from = bw.book.len()
	if code, out, errs := runEnqueue(t, enq, "accounts", "revoke", "acme"); code != 0 {
		t.Fatalf("revoke: %d %s %s", code, out, errs)
	}
	if _, ok := bw.book.await(from, 10*time.Second, func(l string) bool {
		return logMsg("onboarded account revoked")(l) && logAttr(l, "account") == "acme"
	}); !ok {
		t.Fatalf("replica B did not take the revoke:\n%s", tail(bw.book, 20))
	}
	job("ob-2")
	if !dlq.await(30*time.Second, func(m []message) bool {
		for _, d := range m {
			if d.Header.Get(jobs.HeaderJobID) == "ob-2" {
				return strings.Contains(d.Header.Get(jobs.HeaderError), `"acme"`)
			}
		}
		return false
	}) {
		t.Fatalf("ob-2 not dead-lettered as an unknown account:\n%s", tail(bw.book, 20))
	}
	fig.DeadLetters++

	// 4. Re-grant (A started again for its callback): first with a key
	// KlickTipp rejects, then through the grant page.
	a.restart()
	if _, ok := a.awaitRun("onboarding listening", 20*time.Second); !ok {
		t.Fatalf("replica A: no onboarding listener after restart:\n%s", tail(a.book, 20))
	}
	fig.Restarts++
	link2 := invite("acme", "acme-user")
	u2, _ := url.Parse(link2)
	rejected := "ck_" + randHex(40)
	before := bucketKeys(t, kv)
	if st, _, pg := br.get(u2.Query().Get("url") + "?customerkey=" + rejected); st != 422 || !strings.Contains(pg, "did not accept") {
		t.Errorf("rejected key: %d %s", st, pg)
	}
	if got := bucketKeys(t, kv); strings.Join(got, " ") != strings.Join(before, " ") {
		t.Errorf("a rejected key changed the bucket: %v → %v", before, got)
	}
	from = bw.book.len()
	key2, status, page := br.grant(link2)
	if status != 200 || key2 == key1 {
		t.Fatalf("re-grant: %d %s", status, page)
	}
	liveB, ok = bw.book.await(from, 10*time.Second, func(l string) bool {
		return logMsg("onboarded account live")(l) && logAttr(l, "account") == "acme"
	})
	if !ok {
		t.Fatalf("replica B did not take the re-grant:\n%s", tail(bw.book, 20))
	}
	lags = append(lags, grantLag(t, a.book, bw.book, liveB))
	if code, _ := a.p.term(t, 30*time.Second); code != 0 {
		t.Errorf("replica A exit %d", code)
	}
	job("ob-3")
	doneInPartnerMode("ob-3", key2)
	if n := kt.Count("POST", "/account/login"); n != logins {
		t.Errorf("%d logins during the onboarded jobs: not partner mode", n-logins)
	}

	// list shows the account with at most the key's last four characters.
	code, out, _ := runEnqueue(t, enq, "accounts", "list")
	if code != 0 || !strings.Contains(out, "acme") || !strings.Contains(out, "onboarding") || !strings.Contains(out, key2[len(key2)-4:]) {
		t.Errorf("list: %d\n%s", code, out)
	}
	metrics := []string{scrape(t, "http://"+bw.http+"/metrics")}
	if code, _ := bw.p.term(t, 30*time.Second); code != 0 {
		t.Errorf("replica B exit %d", code)
	}

	// 5. Look everywhere for the secrets.
	canaries := canaries{"customer key 1": key1, "customer key 2": key2, "rejected key": rejected,
		"X-Ci 1": xciFor(devKey, key1), "X-Ci 2": xciFor(devKey, key2)}
	for k, v := range secrets {
		canaries[k] = v
	}
	places := map[string]string{"replica A output": a.book.all(), "replica B output": bw.book.all(),
		"/metrics": strings.Join(metrics, "\n"), "enqueue list": out}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	scanned := 0
	for name := range js.StreamNames(ctx).Name() {
		var sb strings.Builder
		for _, m := range readStream(t, js, name) {
			scanned++
			sb.WriteString(m.Subject + "\n")
			for k, vs := range m.Header {
				sb.WriteString(k + ": " + strings.Join(vs, ", ") + "\n")
			}
			sb.Write(m.Data)
			sb.WriteString("\n")
		}
		places["stream "+name] = sb.String()
	}
	if places["stream KV_"+vault.Bucket] == "" {
		t.Error("the accounts bucket was not scanned")
	}
	for where, text := range places {
		if found := canaries.find(text); len(found) > 0 {
			t.Errorf("%s holds %v in plain text", where, found)
		}
	}
	fig.note("B's \"onboarded account live\" minus A's \"klicktipp access granted\" log time: %v; %d stream messages and %d log lines scanned; flood answers %v", lags, scanned, a.book.len()+bw.book.len(), flood)
}
