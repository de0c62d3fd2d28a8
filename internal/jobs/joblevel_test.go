package jobs_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"crmsync/internal/apis"
	"crmsync/internal/apis/clickyid"
	"crmsync/internal/apis/clickyid/clickyidtest"
	"crmsync/internal/jobs"
)

// A 4xx that is the same for every item of a job (an unknown target group
// or offer, a missing scope, an unknown list id shared by every contact)
// dead-letters the job with the API's reason, after one call, so that `dlq
// replay` can bring it back once the typo is fixed; it does not fail every
// item one by one into a "failed" result.
func TestJobLevel4xxDeadLetters(t *testing.T) {
	t.Parallel()
	emails := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("u%d@uni.example", i)
		}
		return out
	}
	listed := contacts("l", 3)
	for _, c := range listed {
		c["listid"] = 999999
	}
	const offersOnlyKey = "ck_live_fedcba9876543210fedcba9876543210fedcba98"
	cases := []struct {
		name, subject string
		job           map[string]any
		key           string // ClickyID key to use; "" the default one
		reason        []string
		calls         func(b *bundle) int
	}{
		{"unknown target group", "crmsync.jobs.email.validate",
			map[string]any{"id": "tg-typo", "kind": "email.validate", "emails": emails(250), "targetGroupIds": []string{"tg_1"}}, "",
			[]string{"400", "invalid_target_group", "tg_1"}, func(b *bundle) int { return b.ci.Count("POST", "/validate/bulk") }},
		{"unknown offer", "crmsync.jobs.email.validate",
			map[string]any{"id": "offer-typo", "kind": "email.validate", "emails": emails(150), "offerIds": []string{"of_nope"}}, "",
			[]string{"400", "invalid_offer", "of_nope"}, func(b *bundle) int { return b.ci.Count("POST", "/validate/bulk") }},
		{"missing scope", "crmsync.jobs.email.validate",
			map[string]any{"id": "no-scope", "kind": "email.validate", "emails": emails(150), "targetGroupIds": []string{"tg_uni"}}, offersOnlyKey,
			[]string{"403", "validate:target-groups"}, func(b *bundle) int { return b.ci.Count("POST", "/validate/bulk") }},
		{"unknown list", "crmsync.jobs.contact.upsert", upsert("list-typo", "klicktipp", listed), "",
			[]string{"402", "list not found", "999999"}, func(b *bundle) int { return b.kt.Count("POST", "/subscriber") }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, opts{})
			router := b.router(t)
			if c.key != "" {
				b.ci.AddAPIKey(c.key, clickyidtest.ScopeOffers)
				hc := apis.NewHTTPClient(2 * time.Second)
				t.Cleanup(hc.CloseIdleConnections)
				ci, err := clickyid.New(clickyid.Config{BaseURL: b.ci.URL, APIKey: c.key, HTTPClient: hc})
				if err != nil {
					t.Fatal(err)
				}
				router = jobs.RouterFunc(func(*jobs.Job) (jobs.Handler, error) { return &jobs.ClickyIDValidate{Client: ci}, nil })
			}
			b.publish(t, c.subject, c.job, "")
			b.startWith(t, router)
			m := b.collect(t, jobs.DLQStream, 1, 20*time.Second)[0]
			reason := m.Headers().Get(jobs.HeaderError)
			for _, want := range c.reason {
				if !strings.Contains(reason, want) {
					t.Errorf("dead-letter reason %q lacks %q", reason, want)
				}
			}
			r := b.results(t, 1, 10*time.Second)[0]
			if !r.DeadLettered || r.Status != jobs.StatusFailed || r.Error != reason {
				t.Errorf("result: status %s, deadLettered %v, error %q", r.Status, r.DeadLettered, r.Error)
			}
			if n := c.calls(b); n != 1 {
				t.Errorf("%d calls to the API, want 1: the answer is the same for every item", n)
			}
		})
	}
}
