package klicktipp_test

import (
	"fmt"
	"testing"

	"crmsync/internal/apis"
	"crmsync/internal/apis/klicktipp"
	"crmsync/internal/apis/klicktipp/klicktipptest"
)

// BenchmarkSubscribeID measures one upsert through the client against the
// fake on loopback (the fake's own work is in the figure too): the
// per-request cost of a KlickTipp job.
//
//	go test -run '^$' -bench SubscribeID -benchmem ./internal/apis/klicktipp/
func BenchmarkSubscribeID(b *testing.B) {
	srv := klicktipptest.NewServer()
	defer srv.Close()
	hc := apis.NewHTTPClient(0)
	defer hc.CloseIdleConnections()
	c, err := klicktipp.New(klicktipp.Config{BaseURL: srv.URL, Username: klicktipptest.Username, Password: klicktipptest.Password, HTTPClient: hc})
	if err != nil {
		b.Fatal(err)
	}
	ctx := b.Context()
	s, err := c.Login(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Logout(ctx)
	fields := map[string]string{"fieldFirstName": "Ann", "fieldLastName": "Lee", "fieldCity": "Berlin"}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if _, err := s.SubscribeID(ctx, klicktipp.SubscribeRequest{Email: fmt.Sprintf("c%d@example.com", i%1000), Fields: fields, TagID: klicktipptest.TagNewsletter}); err != nil {
			b.Fatal(err)
		}
	}
}
