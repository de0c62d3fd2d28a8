package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"crmsync/internal/apis/apistest"
	"crmsync/internal/backfill"
	"crmsync/internal/jobs"
)

// chromium finds Debian's chromium (or another Chrome). The browser test
// skips without one, except under CI=true, where it fails: .ci/run
// installs chromium first.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("CI=true but no chromium found: the console's browser test must run in CI (apt-get install chromium)")
	}
	t.Skip("browser test skipped: chromium not found (apt-get install chromium)")
	return ""
}

// browser drives one headless chromium for a test, with screenshots saved
// under dir.
type browser struct {
	t    *testing.T
	ctx  context.Context
	base string
	dir  string
	n    int
}

func newBrowser(t *testing.T, base string) *browser {
	exe := chromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.WindowSize(1280, 900),
		chromedp.UserDataDir(t.TempDir()))
	tctx, tcancel := context.WithTimeout(context.Background(), 3*time.Minute)
	actx, acancel := chromedp.NewExecAllocator(tctx, opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		acancel()
		tcancel()
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", exe, err)
	}
	dir := filepath.Join(t.TempDir(), "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", dir)
	return &browser{t: t, ctx: ctx, base: base, dir: dir}
}

func (b *browser) run(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// value runs one action that returns a value.
func value[T any](b *browser, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
	return v
}

// waitFor polls a JavaScript expression until it is true, for at most 30 s.
func (b *browser) waitFor(what, expr string) {
	b.t.Helper()
	value(b, "waiting for "+what, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(30*time.Second), chromedp.WithPollingInterval(100*time.Millisecond)))
}

// text returns the text of the first element sel matches.
func (b *browser) text(sel string) string {
	b.t.Helper()
	return value(b, "text of "+sel, chromedp.Text(chromedp.CSS(sel)))
}

// shot saves a full-page PNG as NN-name.png, and copies it to
// $CONSOLE_SCREENSHOTS when set (how docs/ gets its pictures).
func (b *browser) shot(name string) {
	b.t.Helper()
	png := value(b, "screenshot "+name, chromedp.FullScreenshot(100))
	b.n++
	file := fmt.Sprintf("%02d-%s.png", b.n, name)
	if err := os.WriteFile(filepath.Join(b.dir, file), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	if out := os.Getenv("CONSOLE_SCREENSHOTS"); out != "" {
		if err := os.WriteFile(filepath.Join(out, "console-"+name+".png"), png, 0o644); err != nil {
			b.t.Fatal(err)
		}
	}
}

func publishJob(t *testing.T, js jetstream.JetStream, kind jobs.Kind, id string, body any, backfillJob bool) {
	t.Helper()
	data, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	m := &nats.Msg{Subject: kind.Subject(), Data: data, Header: nats.Header{}}
	m.Header.Set(jobs.HeaderMsgID, id)
	if backfillJob {
		m.Header.Set(jobs.HeaderPriority, jobs.PriorityBackfill)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := js.PublishMsg(ctx, m); err != nil {
		t.Fatalf("publishing %s: %v", id, err)
	}
}

// TestConsoleInBrowser drives the console in headless chromium against a
// sandbox worker: log in, watch a backfill reach 100 %, open a dead
// letter, replay it and see the job succeed, and see an action without
// its CSRF token refused.
func TestConsoleInBrowser(t *testing.T) {
	chromium(t) // skips (or fails under CI=true) before starting anything
	const password = "correct horse battery staple"
	env := append(baseEnv(t), "CONSOLE_PASSWORD="+password, "LOG_LEVEL=warn")
	w := startMode(t, env, true)
	js, err := jetstream.New(w.m.nc)
	if err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, "http://"+w.http)

	// Log in.
	b.run("open the console", chromedp.Navigate(b.base+"/console/"), chromedp.WaitVisible(chromedp.CSS("#password")))
	b.shot("login")
	b.run("log in wrongly", chromedp.SendKeys(chromedp.CSS("#password"), "not the password"), chromedp.Submit(chromedp.CSS("#password")),
		chromedp.WaitVisible(chromedp.CSS(".banner.error")))
	b.run("log in", chromedp.SendKeys(chromedp.CSS("#password"), password), chromedp.Submit(chromedp.CSS("#password")),
		chromedp.WaitVisible(chromedp.CSS("#replica-count")))
	b.waitFor("this replica's heartbeat", `document.getElementById("replica-count").textContent.trim() === "1"`)

	// A backfill of 4 jobs, the last with one invalid email; two jobs
	// first, so the page shows it half done, then the rest.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rkv, err := backfill.EnsureRecords(ctx, js, backfill.RecordsConfig{})
	if err != nil {
		t.Fatal(err)
	}
	const bf = "spring-import"
	if err := backfill.SaveRecord(ctx, rkv, backfill.Record{ID: bf, Kind: jobs.KindContactUpsert, Target: jobs.TargetKlickTipp,
		Account: jobs.DefaultAccount, Jobs: 4, Items: 12, Rejected: 1, Source: "spring.csv", Created: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	contacts := func(n int) []map[string]any {
		var cs []map[string]any
		for i := range 3 {
			email := fmt.Sprintf("person%d.%d@example.com", n, i)
			if n == 4 && i == 2 {
				email = "not-an-email"
			}
			cs = append(cs, map[string]any{"email": email, "fields": map[string]string{"fieldFirstName": fmt.Sprintf("P%d", i)}})
		}
		return cs
	}
	job := func(n int) {
		id := backfill.JobID(bf, n)
		publishJob(t, js, jobs.KindContactUpsert, id, map[string]any{"id": id, "kind": "contact.upsert", "target": "klicktipp", "contacts": contacts(n)}, true)
	}
	job(1)
	job(2)
	b.run("open backfills", chromedp.Click(chromedp.CSS(`a[href="/console/backfills"]`)), chromedp.WaitVisible(chromedp.CSS(`[data-backfill="`+bf+`"]`)))
	pct := `document.querySelector('[data-backfill="` + bf + `"] [data-percent]').textContent.trim()`
	b.waitFor("the backfill half done", pct+` === "50 %"`)
	b.shot("backfills-half")
	job(3)
	job(4)
	// No reload: the page's live refresh brings the progress.
	b.waitFor("the backfill at 100 %", pct+` === "100 %"`)
	b.shot("backfills")
	b.run("open the backfill", chromedp.Click(chromedp.CSS(`[data-backfill="`+bf+`"] h2 a`)), chromedp.WaitVisible(chromedp.CSS(`a[href$="failed.csv"]`)))
	failed := b.text("main .scroll:last-of-type tbody")
	if !strings.Contains(failed, "not-an-email") {
		t.Errorf("failed items %q lack not-an-email", failed)
	}
	b.shot("backfill")

	// A Klipy job dead-lettered by a 401 (bad credentials stop a job).
	w.m.sb.kl.SetFaults(apistest.Faults{FailRate: 1, FailStatus: 401}, 1)
	const dl = "crm-person-7"
	publishJob(t, js, jobs.KindContactUpsert, dl, map[string]any{"id": dl, "kind": "contact.upsert", "target": "klipy",
		"contacts": []map[string]any{{"email": "ann@example.com", "firstName": "Ann", "lastName": "Lee"}}}, false)
	b.run("open dead letters", chromedp.Click(chromedp.CSS(`a[href="/console/dlq"]`)), chromedp.WaitVisible(chromedp.CSS("form.filters")))
	b.waitFor("the dead letter listed", `[...document.querySelectorAll("table.letters a")].some(a => a.textContent === "`+dl+`")`)
	b.shot("dead-letters")
	b.run("open the dead letter", chromedp.Click(chromedp.CSS(`table.letters tbody tr:first-child td:first-child a`)), chromedp.WaitVisible(chromedp.CSS("#letter-body")))
	body := b.text("#letter-body")
	if !strings.Contains(body, "\n  \"contacts\": [") {
		t.Errorf("body not pretty-printed: %q", body)
	}
	b.shot("dead-letter")

	// An action without its CSRF token is refused, and changes nothing.
	status := value(b, "POST without a CSRF token", chromedp.Evaluate[int](`fetch("/console/dlq/purge", {method: "POST", body: new URLSearchParams({})}).then(r => r.status)`, chromedp.EvalAwaitPromise))
	if status != 403 {
		t.Errorf("purge without a CSRF token: status %d, want 403", status)
	}
	status = value(b, "POST with a forged CSRF token", chromedp.Evaluate[int](`fetch("/console/dlq/purge", {method: "POST", body: new URLSearchParams({csrf: "forged"})}).then(r => r.status)`, chromedp.EvalAwaitPromise))
	if status != 403 {
		t.Errorf("purge with a forged CSRF token: status %d, want 403", status)
	}
	if n := dlqCount(t, js); n != 1 {
		t.Fatalf("dead letters after refused purges: %d, want 1", n)
	}

	// Replay it, with the fault gone, and watch the job succeed.
	w.m.sb.kl.SetFaults(apistest.Faults{}, 1)
	b.run("ask to replay", chromedp.Click(chromedp.CSS("#replay")), chromedp.WaitVisible(chromedp.CSS("#confirm")))
	b.shot("confirm-replay")
	b.run("confirm", chromedp.Click(chromedp.CSS("#confirm")), chromedp.WaitVisible(chromedp.CSS("a.job-link")))
	b.shot("replayed")
	b.run("open the job", chromedp.Click(chromedp.CSS("a.job-link")), chromedp.WaitVisible(chromedp.CSS("h1")))
	b.waitFor("the replayed job succeeded", `(document.getElementById("job-status") || {textContent: ""}).textContent.includes("succeeded")`)
	b.shot("job")
	if n := dlqCount(t, js); n != 0 {
		t.Errorf("dead letters after the replay: %d, want 0", n)
	}

	b.run("open accounts", chromedp.Click(chromedp.CSS(`a[href="/console/accounts"]`)), chromedp.WaitVisible(chromedp.CSS("main table")))
	accounts := b.text("main")
	for _, secret := range []string{"klipy_sandbox", "ck_live_", password} {
		if strings.Contains(accounts, secret) {
			t.Errorf("accounts page shows a secret (%q)", secret)
		}
	}
	b.shot("accounts")
	// ClickyID answers X-RateLimit-Remaining: 0 for the next hour: the
	// credential is blocked fleet-wide, and a second job waits for it.
	w.m.sb.ci.SetRateLimit(apistest.RateLimit{Limit: 1, Window: time.Hour, Headers: true, RetryAfter: true})
	for i := range 2 {
		id := fmt.Sprintf("signup-check-%d", i+1)
		publishJob(t, js, jobs.KindEmailValidate, id, map[string]any{"id": id, "kind": "email.validate",
			"emails": []string{"a@uni.example", "b@example.com"}, "targetGroupIds": []string{"tg_uni"}, "mode": "any"}, false)
	}
	b.run("open the overview", chromedp.Click(chromedp.CSS(`a[href="/console/"]`)), chromedp.WaitVisible(chromedp.CSS("#replica-count")))
	b.waitFor("the ClickyID block", `document.querySelector("table.stack tbody").textContent.includes("blocked")`)
	b.shot("overview")
	b.run("phone size", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile), chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#replica-count")))
	b.shot("overview-phone")
}

func dlqCount(t *testing.T, js jetstream.JetStream) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, jobs.DLQStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}
