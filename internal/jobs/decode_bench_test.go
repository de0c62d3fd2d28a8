package jobs_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"crmsync/internal/jobs"
)

// benchBody is one job of bench/'s KlickTipp workload: 200 contacts, each
// with an email, two fields and a tag, as bench/jobs.go publishes them.
func benchBody(tb testing.TB) []byte {
	type contact struct {
		Email  string            `json:"email"`
		Fields map[string]string `json:"fields,omitempty"`
		Tags   []any             `json:"tags,omitempty"`
	}
	id := "bench-000001"
	cs := make([]contact, 200)
	for i := range cs {
		cs[i] = contact{Email: fmt.Sprintf("%s-%d@example.com", id, i),
			Fields: map[string]string{"fieldFirstName": "Ann", "fieldLastName": fmt.Sprintf("Lee%d", i)},
			Tags:   []any{"newsletter"}}
	}
	b, err := json.Marshal(map[string]any{"id": id, "kind": "contact.upsert", "target": "klicktipp", "account": "default", "contacts": cs})
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// BenchmarkDecode decodes a 200-contact KlickTipp job, the shape of the
// worker benchmark (bench/): `go test -run '^$' -bench Decode -benchmem
// -count 5 ./internal/jobs`.
func BenchmarkDecode(b *testing.B) {
	body := benchBody(b)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		j, err := jobs.Decode("crmsync.jobs.contact.upsert", body, jobs.Limits{})
		if err != nil || len(j.Contacts) != 200 {
			b.Fatalf("Decode: %v", err)
		}
	}
}

// BenchmarkDecodeContact is one contact of benchBody's job through
// UnmarshalJSON, as encoding/json calls it: "walk" is jobs.Contact, "map"
// the map-based decoder it replaced (refContact).
func BenchmarkDecodeContact(b *testing.B) {
	b.Run("walk", func(b *testing.B) { benchContact(b, new(jobs.Contact)) })
	b.Run("map", func(b *testing.B) { benchContact(b, new(refContact)) })
}

func benchContact(b *testing.B, c json.Unmarshaler) {
	var env struct{ Contacts []json.RawMessage }
	if err := json.Unmarshal(benchBody(b), &env); err != nil {
		b.Fatal(err)
	}
	one := env.Contacts[7]
	b.SetBytes(int64(len(one)))
	b.ReportAllocs()
	for b.Loop() {
		if err := c.UnmarshalJSON(one); err != nil {
			b.Fatal(err)
		}
	}
}
