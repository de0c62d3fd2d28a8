package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// A spec names a batch of jobs that the crmsync worker, the peer and the
// bare loop all do: the same job ids, the same contacts or emails, the
// same bytes on the wire.
type spec struct {
	Prefix string `json:"prefix"` // job ids are Prefix-000001 ...
	API    string `json:"api"`    // "klicktipp" or "clickyid"
	Jobs   int    `json:"jobs"`
	Per    int    `json:"per"` // contacts or emails per job
}

type contact struct {
	Email  string            `json:"email"`
	Fields map[string]string `json:"fields,omitempty"`
	Tags   []any             `json:"tags,omitempty"`
}

type jobBody struct {
	ID             string    `json:"id"`
	Kind           string    `json:"kind"`
	Target         string    `json:"target,omitempty"`
	Account        string    `json:"account"`
	Contacts       []contact `json:"contacts,omitempty"`
	Emails         []string  `json:"emails,omitempty"`
	TargetGroupIDs []string  `json:"targetGroupIds,omitempty"`
	Mode           string    `json:"mode,omitempty"`
}

func (s spec) id(j int) string { return fmt.Sprintf("%s-%06d", s.Prefix, j+1) }

// job returns job j's envelope.
func (s spec) job(j int) jobBody {
	id := s.id(j)
	if s.API == "clickyid" {
		emails := make([]string, s.Per)
		for i := range emails {
			domain := "uni.example"
			if i%3 == 2 {
				domain = "example.com"
			}
			emails[i] = fmt.Sprintf("%s-%d@%s", id, i, domain)
		}
		return jobBody{ID: id, Kind: "email.validate", Account: "default", Emails: emails, TargetGroupIDs: []string{"tg_uni"}, Mode: "any"}
	}
	cs := make([]contact, s.Per)
	for i := range cs {
		cs[i] = contact{Email: fmt.Sprintf("%s-%d@example.com", id, i),
			Fields: map[string]string{"fieldFirstName": "Ann", "fieldLastName": fmt.Sprintf("Lee%d", i)},
			Tags:   []any{"newsletter"}}
	}
	return jobBody{ID: id, Kind: "contact.upsert", Target: "klicktipp", Account: "default", Contacts: cs}
}

// items is the number of contacts or emails in the batch.
func (s spec) items() int { return s.Jobs * s.Per }

// calls is the number of API requests the batch needs: per KlickTipp job a
// login, the tag listing, one POST /subscriber per contact and a logout;
// per ClickyID job one bulk call per 100 emails.
func (s spec) calls() int {
	if s.API == "clickyid" {
		return s.Jobs * ((s.Per + 99) / 100)
	}
	return s.Jobs * (s.Per + 3)
}

// publish sends jobs [from, to) of s to subject, with Nats-Msg-Id set to
// the job id and, when priority is not empty, Crmsync-Priority. It waits
// for every ack. It returns each job's publish time.
func publish(ctx context.Context, js jetstream.JetStream, subject, priority string, s spec, from, to int) (map[string]time.Time, error) {
	at := make(map[string]time.Time, to-from)
	var futs []jetstream.PubAckFuture
	for j := from; j < to; j++ {
		body, err := json.Marshal(s.job(j))
		if err != nil {
			return nil, err
		}
		m := nats.NewMsg(subject)
		m.Data = body
		m.Header.Set(nats.MsgIdHdr, s.id(j))
		if priority != "" {
			m.Header.Set("Crmsync-Priority", priority)
		}
		at[s.id(j)] = time.Now()
		f, err := js.PublishMsgAsync(m)
		if err != nil {
			return nil, err
		}
		futs = append(futs, f)
	}
	for _, f := range futs {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return nil, err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return at, nil
}

// result is what both crmsync and the peer publish for a finished job.
type result struct {
	ID       string    `json:"id"`
	Status   string    `json:"status"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	Counts   struct {
		Total     int `json:"total"`
		Succeeded int `json:"succeeded"`
		Failed    int `json:"failed"`
	} `json:"counts"`
	Part int `json:"part"`
}

// results follows a results stream from its start with an ordered consumer.
type results struct {
	cons jetstream.Consumer
	seen map[string]result
}

func followResults(ctx context.Context, js jetstream.JetStream, stream string) (*results, error) {
	c, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return nil, err
	}
	return &results{cons: c, seen: map[string]result{}}, nil
}

// until reads results until want(r.seen) holds or ctx is done; it returns
// the time the result that made want hold arrived. A fetch's batch is read
// to its end (its messages are not fetched again), so r.seen may hold more.
func (r *results) until(ctx context.Context, want func(map[string]result) bool) (time.Time, error) {
	var met time.Time
	if want(r.seen) {
		met = time.Now()
	}
	for met.IsZero() {
		if err := ctx.Err(); err != nil {
			return time.Now(), fmt.Errorf("waiting for results: %w (have %d)", err, len(r.seen))
		}
		batch, err := r.cons.Fetch(500, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return time.Now(), err
		}
		for m := range batch.Messages() {
			if p := m.Headers().Get("Crmsync-Result-Part"); p != "" && !strings.HasPrefix(p, "1/") {
				continue // a later part of a split result: the first carries the counts
			}
			res, err := readHead(m.Data())
			if err != nil {
				return time.Now(), fmt.Errorf("result: %w", err)
			}
			if _, dup := r.seen[res.ID]; !dup {
				r.seen[res.ID] = res
				if met.IsZero() && want(r.seen) {
					met = time.Now()
				}
			}
		}
		if err := batch.Error(); err != nil && err != context.DeadlineExceeded && err != nats.ErrTimeout {
			return time.Now(), err
		}
	}
	return met, nil
}

// readHead reads the fields of result from a result's JSON, stopping once
// it has them: crmsync's results carry every item after the counts (100 KB
// for a B4 ClickyID job), and decoding all of them here would take the
// shared cores from the side being measured (about 90 ms of a 0.8 s B4
// run, profiled), where the peer's results hold the counts alone.
func readHead(data []byte) (result, error) {
	var res result
	dec := json.NewDecoder(bytes.NewReader(data))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return res, fmt.Errorf("not a JSON object (%v)", err)
	}
	const want = 5 // id, status, started, finished, counts
	for have := 0; have < want && dec.More(); {
		t, err := dec.Token()
		if err != nil {
			return res, err
		}
		var dst any
		switch t {
		case "id":
			dst = &res.ID
		case "status":
			dst = &res.Status
		case "started":
			dst = &res.Started
		case "finished":
			dst = &res.Finished
		case "counts":
			dst = &res.Counts
		case "part": // the peer's never has one; crmsync's comes after its items
			dst = &res.Part
			have--
		default:
			dst = new(json.RawMessage)
			have-- // not one of them
		}
		if err := dec.Decode(dst); err != nil {
			return res, fmt.Errorf("field %v: %w", t, err)
		}
		have++
	}
	return res, nil
}

// all reports whether every job of s has a result.
func all(s spec) func(map[string]result) bool {
	return func(seen map[string]result) bool {
		n := 0
		for j := 0; j < s.Jobs; j++ {
			if _, ok := seen[s.id(j)]; ok {
				n++
			}
		}
		return n == s.Jobs
	}
}

// failedItems sums the failed items of s's results.
func failedItems(seen map[string]result, s spec) int {
	n := 0
	for j := 0; j < s.Jobs; j++ {
		n += seen[s.id(j)].Counts.Failed
	}
	return n
}
