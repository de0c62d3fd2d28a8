package reliability

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"crmsync/internal/apis/apistest"
	"crmsync/internal/apis/clickyid/clickyidtest"
	"crmsync/internal/apis/klicktipp/klicktipptest"
	"crmsync/internal/apis/klipy/klipytest"
	"crmsync/internal/jobs"
)

func randHex(n int) string {
	b := make([]byte, n/2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// canaries are the secret values of one run, by where they go.
type canaries map[string]string

func newCanaries() canaries {
	c := canaries{
		"NATS_PASSWORD":            "CANARYnats" + randHex(16),
		"KLICKTIPP_PASSWORD":       "CANARYktpw" + randHex(16),
		"KLICKTIPP_DEVELOPER_KEY":  "ca7a" + randHex(36), // hex, as KlickTipp issues them
		"KLICKTIPP_CUSTOMER_KEY":   "CANARYcust" + randHex(16),
		"KLIPY_API_KEY":            "CANARYklipy" + randHex(16),
		"CLICKYID_API_KEY":         "ck_live_" + randHex(40),
		"wrong klicktipp password": "CANARYwrong" + randHex(16),
		"wrong clickyid key":       "ck_live_" + randHex(40),
	}
	// X-Ci is derived from the partner keys and carries the customer key.
	key, _ := hex.DecodeString(c["KLICKTIPP_DEVELOPER_KEY"])
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(c["KLICKTIPP_CUSTOMER_KEY"]))
	c["X-Ci"] = base64.StdEncoding.EncodeToString(append(mac.Sum(nil), c["KLICKTIPP_CUSTOMER_KEY"]...))
	return c
}

// find reports which canaries occur in s (hex ones in either case).
func (c canaries) find(s string) []string {
	var out []string
	for name, v := range c {
		if strings.Contains(s, v) || strings.Contains(s, strings.ToUpper(v)) {
			out = append(out, name)
		}
	}
	return out
}

// TestSecretsNeverLeak puts canary values in every secret variable (inline
// in one run, as NAME_FILE in the next), runs succeeding and failing jobs at
// LOG_LEVEL=debug (a wrong password, a wrong key, 4xx items, 5xx answers)
// and looks for the canaries in the worker's output, /metrics, and every
// message of every stream on the broker (results, dead letters with their
// headers, checkpoints, limiter state).
func TestSecretsNeverLeak(t *testing.T) {
	needWorker(t)
	fig := record(t)
	c := newCanaries()
	const user = "secuser"
	n := startNATS(t, "crmsync", c["NATS_PASSWORD"])
	kt := klicktipptest.NewServer(klicktipptest.WithCredentials(user, c["KLICKTIPP_PASSWORD"]),
		klicktipptest.WithPartnerKeys(c["KLICKTIPP_DEVELOPER_KEY"], c["KLICKTIPP_CUSTOMER_KEY"]))
	kl := klipytest.NewServer(klipytest.WithAPIKey(klipytest.APIKey{Key: c["KLIPY_API_KEY"], Team: klipytest.DefaultTeam, Organisation: "org_canary"}))
	ci := clickyidtest.NewServer(clickyidtest.WithAPIKey(c["CLICKYID_API_KEY"], clickyidtest.ScopeTargetGroups, clickyidtest.ScopeOffers),
		clickyidtest.WithRateLimit(apistest.RateLimit{}))
	t.Cleanup(func() { kt.Close(); kl.Close(); ci.Close() })
	kl.SetFaults(apistest.Faults{FailRate: 0.3}, seed)

	pwFile := writeFile(t, "kt-password", c["KLICKTIPP_PASSWORD"]+"\n")
	accounts := writeFile(t, "accounts.json", fmt.Sprintf(`{
		"sess":  {"klicktipp": {"baseUrl": %q, "username": %q, "passwordFile": %q}},
		"wrong": {"klicktipp": {"baseUrl": %q, "username": %q, "password": %q}},
		"badci": {"clickyid": {"baseUrl": %q, "apiKey": %q}}}`,
		kt.URL, user, pwFile, kt.URL, user, c["wrong klicktipp password"], ci.URL, c["wrong clickyid key"]))
	common := []string{"LOG_LEVEL=debug", "WORKER_MAX_ATTEMPTS=2", "WORKER_RETRY_BASE=10ms", "WORKER_RETRY_MAX=20ms",
		"NATS_USER=crmsync", "ACCOUNTS_FILE=" + accounts,
		"KLICKTIPP_BASE_URL=" + kt.URL, "KLICKTIPP_USERNAME=" + user, "KLIPY_BASE_URL=" + kl.URL, "CLICKYID_BASE_URL=" + ci.URL}
	secretVars := []string{"NATS_PASSWORD", "KLICKTIPP_PASSWORD", "KLICKTIPP_DEVELOPER_KEY", "KLICKTIPP_CUSTOMER_KEY", "KLIPY_API_KEY", "CLICKYID_API_KEY"}
	inline, files := append([]string(nil), common...), append([]string(nil), common...)
	for _, v := range secretVars {
		inline = append(inline, v+"="+c[v])
		files = append(files, v+"_FILE="+writeFile(t, strings.ToLower(v), c[v]+"\n"))
	}

	_, js := connect(t, n.url(), nats.UserInfo("crmsync", c["NATS_PASSWORD"]))
	var res *watcher
	book := newLogBook()
	var metrics []string
	total := 0
	for run, env := range [][]string{inline, files} {
		w := newWorker(t, workerEnv(n.url(), env...))
		w.book = book
		w.start()
		fig.Restarts++
		if res == nil {
			res = watch(t, js, jobs.ResultsStream)
		}
		ids := secretJobs(t, js, fmt.Sprintf("r%d", run))
		total += len(ids)
		if !res.await(time.Minute, func(m []message) bool { return distinctIDs(m) >= total }) {
			t.Fatalf("run %d: not every job finished within 1m:\n%s", run, tail(book, 20))
		}
		metrics = append(metrics, scrape(t, "http://"+w.http+"/metrics"))
		if code, _ := w.p.term(t, 30*time.Second); code != 0 {
			t.Errorf("run %d: exit %d", run, code)
		}
	}
	fig.Jobs = total

	// The runs must have taken the failing paths they were meant to.
	dlqMsgs := readStream(t, js, jobs.DLQStream)
	fig.DeadLetters = len(dlqMsgs)
	reasons := ""
	for _, m := range dlqMsgs {
		reasons += m.Header.Get(jobs.HeaderError) + "\n"
	}
	for _, want := range []string{"401", "wrong username or password"} {
		if !strings.Contains(strings.ToLower(reasons), strings.ToLower(want)) {
			t.Errorf("no dead letter mentions %q; reasons:\n%s", want, reasons)
		}
	}

	// Look everywhere.
	places := map[string]string{"worker output": book.all(), "/metrics": strings.Join(metrics, "\n")}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	names := js.StreamNames(ctx)
	scanned := 0
	for name := range names.Name() {
		var b strings.Builder
		for _, m := range readStream(t, js, name) {
			scanned++
			b.WriteString(m.Subject + "\n")
			for k, vs := range m.Header {
				b.WriteString(k + ": " + strings.Join(vs, ", ") + "\n")
			}
			b.Write(m.Data)
			b.WriteString("\n")
		}
		places["stream "+name] = b.String()
	}
	if names.Err() != nil {
		t.Fatalf("listing streams: %v", names.Err())
	}
	for where, text := range places {
		if leaked := c.find(text); len(leaked) > 0 {
			t.Errorf("%s contains the secret value of %v", where, leaked)
		}
	}
	// The canaries did reach the fakes (the scan looks for the right strings).
	var sent strings.Builder
	for _, reqs := range [][]apistest.Request{kt.Requests(), kl.Requests(), ci.Requests()} {
		for _, q := range reqs {
			fmt.Fprintf(&sent, "%v %s\n", q.Header, q.Body)
		}
	}
	seen := strings.Join(c.find(sent.String()), ",")
	for _, name := range []string{"X-Ci", "KLICKTIPP_PASSWORD", "wrong klicktipp password", "KLIPY_API_KEY", "CLICKYID_API_KEY", "wrong clickyid key"} {
		if !strings.Contains(seen, name) {
			t.Errorf("the fakes never received the canary %s: the path using it was not exercised (or the scan is blind)", name)
		}
	}
	if kt.Logins() == 0 || kt.Snapshot().FailedLogins == 0 {
		t.Errorf("%d logins, %d failed: session mode with the right and the wrong password was not exercised", kt.Logins(), kt.Snapshot().FailedLogins)
	}
	fig.note("8 canaries (6 secret variables inline and as NAME_FILE, a wrong password, a wrong key, plus the derived X-Ci) searched in %d log lines, /metrics twice and %d messages of every stream: none found", book.len(), scanned)
	fig.addFaults(kl.FaultsInjected())

	// A bad secret stops the start with a message that names the variable,
	// not the value.
	bad := c["KLICKTIPP_CUSTOMER_KEY"] + "-not-hex"
	cb := newLogBook()
	p := startProc(t, "worker", workerBin, nil, workerEnv(n.url(), append(common, "NATS_PASSWORD="+c["NATS_PASSWORD"],
		"KLICKTIPP_DEVELOPER_KEY="+bad, "KLICKTIPP_CUSTOMER_KEY="+c["KLICKTIPP_CUSTOMER_KEY"])...), cb)
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("worker with a malformed developer key did not stop")
	}
	if p.cmd.ProcessState.ExitCode() == 0 {
		t.Error("worker with a malformed developer key exited 0")
	}
	if out := cb.all(); strings.Contains(out, bad) || len(c.find(out)) > 0 || !strings.Contains(out, "KLICKTIPP") && !strings.Contains(out, "klicktipp") {
		t.Errorf("start-up error for a malformed developer key: %q", out)
	}
}

// secretJobs publishes one batch of succeeding and failing jobs and returns
// their ids.
func secretJobs(t *testing.T, js jetstream.JetStream, p string) []string {
	t.Helper()
	var ids []string
	pub := func(id string, job map[string]any) {
		job["id"] = p + "-" + id
		subject := jobs.KindContactUpsert.Subject()
		if job["kind"] == "email.validate" {
			subject = jobs.KindEmailValidate.Subject()
		}
		publish(t, js, subject, mustJSON(t, job), p+"-"+id)
		ids = append(ids, p+"-"+id)
	}
	kt := func(account string, contacts ...map[string]any) map[string]any {
		return map[string]any{"kind": "contact.upsert", "target": "klicktipp", "account": account, "contacts": contacts}
	}
	pub("kt-partner", kt("default", map[string]any{"email": p + "a@example.com", "tags": []any{"newsletter"}}))
	pub("kt-items", kt("default", map[string]any{"email": p + "b@example.com", "fields": map[string]string{"fieldNope": "x"}}, map[string]any{"email": "bad@"}))
	pub("kt-session", kt("sess", map[string]any{"email": p + "c@example.com"}))
	pub("kt-wrong", kt("wrong", map[string]any{"email": p + "d@example.com"}))
	pub("kl-ok", map[string]any{"kind": "contact.upsert", "target": "klipy", "contacts": []any{
		map[string]any{"email": p + "e@example.com", "firstName": "E"}, map[string]any{"email": p + "f@example.com", "firstName": "F"},
		map[string]any{"email": p + "g@example.com", "firstName": "G"}, map[string]any{"email": p + "h@example.com", "firstName": 7}}})
	pub("ci-ok", map[string]any{"kind": "email.validate", "emails": []string{p + "i@uni.example", "x"}, "targetGroupIds": []string{"tg_uni"}})
	pub("ci-group", map[string]any{"kind": "email.validate", "emails": []string{p + "j@uni.example"}, "targetGroupIds": []string{"tg_nope"}})
	pub("ci-badkey", map[string]any{"kind": "email.validate", "account": "badci", "emails": []string{p + "k@uni.example"}, "targetGroupIds": []string{"tg_uni"}})
	return ids
}

// readStream returns every message a stream holds now.
func readStream(t *testing.T, js jetstream.JetStream, stream string) []message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatalf("stream %s: %v", stream, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []message
	if info.State.Msgs == 0 {
		return nil
	}
	c, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for {
		m, err := c.Next(jetstream.FetchContext(ctx))
		if err != nil {
			t.Fatalf("reading %s: %v", stream, err)
		}
		out = append(out, message{Subject: m.Subject(), Header: m.Headers(), Data: m.Data()})
		md, err := m.Metadata()
		if err != nil {
			t.Fatal(err)
		}
		if md.NumPending == 0 {
			return out
		}
	}
}
