package jobs_test

import (
	"errors"
	"testing"

	"crmsync/internal/jobs"
)

// DecodeHead judges the envelope exactly as Decode does and leaves the items
// to Decode: the intake routes on it, the lane decodes the items once.
func TestDecodeHeadJudgesTheEnvelopeAsDecodeDoes(t *testing.T) {
	t.Parallel()
	const upsert, validate = "crmsync.jobs.contact.upsert", "crmsync.jobs.email.validate"
	cases := []struct {
		name, subject, body string
		headOK              bool // DecodeHead accepts it (Decode then judges the items)
	}{
		{"valid", upsert, `{"id":"a","kind":"contact.upsert","target":"klicktipp","account":"acme","contacts":[{"email":"a@b.example"}]}`, true},
		{"bad items pass the head", upsert, `{"kind":"contact.upsert","target":"klicktipp","contacts":5}`, true},
		{"no items pass the head", validate, `{"kind":"email.validate","emails":[]}`, true},
		{"bad mode passes the head", validate, `{"kind":"email.validate","emails":["a@b.example"],"mode":"some"}`, true},
		{"not JSON", upsert, `{"kind":`, false},
		{"trailing data", upsert, `{"kind":"contact.upsert","target":"klicktipp","contacts":[{"email":"a@b.example"}]} {}`, false},
		{"kind missing", upsert, `{"target":"klicktipp"}`, false},
		{"kind against subject", validate, `{"kind":"contact.upsert","target":"klicktipp","contacts":[{"email":"a@b.example"}]}`, false},
		{"bad account", upsert, `{"kind":"contact.upsert","target":"klicktipp","account":"a.b","contacts":[{"email":"a@b.example"}]}`, false},
		{"bad target", upsert, `{"kind":"contact.upsert","target":"mailchimp","contacts":[{"email":"a@b.example"}]}`, false},
		{"id with control characters", upsert, "{\"id\":\"a\\u0007\",\"kind\":\"contact.upsert\",\"target\":\"klicktipp\",\"contacts\":[{\"email\":\"a@b.example\"}]}", false},
		{"not UTF-8", upsert, "{\"kind\":\"contact.upsert\",\"target\":\"klicktipp\",\"x\":\"\xff\"}", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h, herr := jobs.DecodeHead(c.subject, []byte(c.body), jobs.Limits{})
			j, derr := jobs.Decode(c.subject, []byte(c.body), jobs.Limits{})
			if (herr == nil) != c.headOK {
				t.Fatalf("DecodeHead error = %v, want ok=%v", herr, c.headOK)
			}
			if herr != nil {
				var hi, di *jobs.InvalidError
				if !errors.As(herr, &hi) || !errors.As(derr, &di) {
					t.Fatalf("want *InvalidError from both, got %v and %v", herr, derr)
				}
				if *hi != *di {
					t.Errorf("DecodeHead says %+v, Decode %+v", *hi, *di)
				}
				return
			}
			if h.Items() != 0 {
				t.Errorf("DecodeHead decoded %d items; it must leave them to Decode", h.Items())
			}
			if derr == nil && (h.ID != j.ID || h.Kind != j.Kind || h.Target != j.Target || h.Account != j.Account) {
				t.Errorf("head %+v disagrees with the job %+v", h, j)
			}
		})
	}
}

// Anything after the envelope but white space is refused, a stray closing
// brace too (a Decoder's More alone would let "}" and "]" through).
func TestDataAfterTheEnvelope(t *testing.T) {
	t.Parallel()
	const env = `{"kind":"email.validate","emails":["a@b.example"]}`
	for _, tail := range []string{"}", "]", " {}", "x", ` "more"`} {
		for name, decode := range map[string]func(string, []byte, jobs.Limits) (*jobs.Job, error){"Decode": jobs.Decode, "DecodeHead": jobs.DecodeHead} {
			_, err := decode("crmsync.jobs.email.validate", []byte(env+tail), jobs.Limits{})
			var inv *jobs.InvalidError
			if !errors.As(err, &inv) || inv.Reason != "body has data after the JSON object" {
				t.Errorf("%s with %q after the envelope: %v", name, tail, err)
			}
		}
	}
	if _, err := jobs.Decode("crmsync.jobs.email.validate", []byte(" \n"+env+"\n\t "), jobs.Limits{}); err != nil {
		t.Errorf("white space around the envelope: %v", err)
	}
}
