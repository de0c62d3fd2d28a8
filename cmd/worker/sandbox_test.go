package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"crmsync/internal/jobs"
)

func TestSandboxRunsJobsEndToEnd(t *testing.T) {
	b := startMode(t, baseEnv(t), true)
	nc, err := nats.Connect(recv(t, b.m.natsURL, "the embedded server's URL"), nats.Token(b.m.embedded.Token()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pub := func(subject, body string) {
		if _, err := js.Publish(ctx, subject, []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	pub("crmsync.jobs.contact.upsert", `{"id":"sb-kt","kind":"contact.upsert","target":"klicktipp","contacts":[{"email":"ann@example.com","fields":{"fieldFirstName":"Ann"},"tags":["newsletter"],"listid":123}]}`)
	pub("crmsync.jobs.contact.upsert", `{"id":"sb-kl","kind":"contact.upsert","target":"klipy","contacts":[{"email":"bob@example.com","firstName":"Bob"}]}`)
	pub("crmsync.jobs.email.validate", `{"id":"sb-ci","kind":"email.validate","emails":["a@uni.example","b@example.com"],"targetGroupIds":["tg_uni"]}`)

	cons, err := js.OrderedConsumer(ctx, jobs.ResultsStream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]jobs.Result{}
	for len(got) < 3 {
		msg, err := cons.Next(jetstream.FetchContext(ctx))
		if err != nil {
			t.Fatalf("results so far %v: %v", got, err)
		}
		var r jobs.Result
		if err := json.Unmarshal(msg.Data(), &r); err != nil {
			t.Fatal(err)
		}
		got[r.ID] = r
	}
	for id, r := range got {
		if r.Status != jobs.StatusSucceeded {
			t.Errorf("%s: %+v", id, r)
		}
	}
	if v := got["sb-ci"].Items; *v[0].IsValid != true || *v[1].IsValid != false {
		t.Errorf("validation items %+v", v)
	}
	_, body := get(t, "http://"+b.http+"/sandbox/klicktipp/subscribers")
	if !strings.Contains(body, "ann@example.com") {
		t.Errorf("/sandbox/klicktipp/subscribers = %s", body)
	}
	_, body = get(t, "http://"+b.http+"/sandbox/klipy/people")
	if !strings.Contains(body, "bob@example.com") {
		t.Errorf("/sandbox/klipy/people = %s", body)
	}
	// The runner counts a job after publishing its result and acking it.
	metrics := awaitMetrics(t, "http://"+b.http+"/metrics", `crmsync_jobs_total{kind="email.validate",outcome="succeeded"} 1`, `crmsync_jobs_total{kind="contact.upsert",outcome="succeeded"} 2`)
	for _, want := range []string{
		`crmsync_jobs_total{kind="contact.upsert",outcome="succeeded"} 2`,
		`crmsync_klicktipp_sessions_opened_total 1`,
		`crmsync_klicktipp_sessions_closed_total 1`,
		`crmsync_klicktipp_sessions_open 0`,
		`crmsync_api_requests_total{api="clickyid",status="200"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// awaitMetrics polls url until its body holds every line in want, for at
// most 10 s, and returns the body.
func awaitMetrics(t *testing.T, url string, want ...string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, body := get(t, url)
		missing := ""
		for _, w := range want {
			if !strings.Contains(body, w) {
				missing = w
				break
			}
		}
		if missing == "" {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s lacks %s after 10s", url, missing)
		}
		<-time.After(20 * time.Millisecond)
	}
}
