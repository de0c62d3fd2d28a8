package klicktipp_test

import (
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"crmsync/internal/apis"
	"crmsync/internal/apis/klicktipp"
	"crmsync/internal/apis/klicktipp/klicktipptest"
)

func TestSubscribe(t *testing.T) {
	modes(t, func(t *testing.T, partner bool) {
		b := setup(t, setupOpts{partner: partner})
		s := b.login(t)
		ctx := t.Context()

		// Default double opt-in: pending, default list.
		sub, err := s.Subscribe(ctx, klicktipp.SubscribeRequest{Email: "Ann@Example.com", TagID: klicktipptest.TagNewsletter,
			Fields: map[string]string{"fieldFirstName": "Ann", "fieldLastName": "Lee", klicktipptest.CustomFieldKey: "C-1"}})
		if err != nil {
			t.Fatalf("Subscribe: %v", err)
		}
		if sub.ID <= 0 || sub.Email != "ann@example.com" || sub.Status != klicktipptest.StatusPending ||
			sub.ListID != klicktipptest.DefaultListID || !reflect.DeepEqual(sub.Tags, []int64{klicktipptest.TagNewsletter}) {
			t.Fatalf("subscriber %+v", sub)
		}
		if sub.Fields["fieldFirstName"] != "Ann" || sub.Fields[klicktipptest.CustomFieldKey] != "C-1" || sub.Fields["fieldCity"] != "" {
			t.Fatalf("fields %v", sub.Fields)
		}
		if _, ok := sub.Fields["fieldCity"]; !ok {
			t.Fatal("standard field fieldCity missing from answer")
		}

		// Update through the single opt-in list: same id, subscribed, fields merged.
		again, err := s.Subscribe(ctx, klicktipp.SubscribeRequest{Email: "ann@example.com", ListID: klicktipptest.ListID,
			TagID: klicktipptest.TagCustomer, Fields: map[string]string{"fieldCity": "Berlin"}})
		if err != nil {
			t.Fatalf("Subscribe again: %v", err)
		}
		if again.ID != sub.ID || again.Status != klicktipptest.StatusSubscribed || again.ListID != klicktipptest.ListID ||
			again.Fields["fieldFirstName"] != "Ann" || again.Fields["fieldCity"] != "Berlin" ||
			!reflect.DeepEqual(again.Tags, []int64{klicktipptest.TagCustomer, klicktipptest.TagNewsletter}) {
			t.Fatalf("updated subscriber %+v", again)
		}
		stored, ok := b.srv.Subscriber("ANN@example.com")
		if !ok || stored.ID != sub.ID || stored.Fields["fieldCity"] != "Berlin" || len(b.srv.Subscribers()) != 1 {
			t.Fatalf("fake state %+v", stored)
		}

		// SubscribeID: the same upsert, the id alone.
		id, err := s.SubscribeID(ctx, klicktipp.SubscribeRequest{Email: "ann@example.com", Fields: map[string]string{"fieldZip": "10115"}})
		if err != nil || id != sub.ID {
			t.Fatalf("SubscribeID: %d, %v; want %d", id, err, sub.ID)
		}
		if stored, _ := b.srv.Subscriber("ann@example.com"); stored.Fields["fieldZip"] != "10115" {
			t.Fatalf("SubscribeID did not update: %+v", stored)
		}
		if _, err := s.SubscribeID(ctx, klicktipp.SubscribeRequest{Email: "not-an-email"}); !errors.Is(err, apis.ErrValidation) {
			t.Fatalf("SubscribeID of a bad email: %v", err)
		}
	})
}

func TestSubscribeValidation(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	s := b.login(t)
	tests := []struct {
		name string
		req  klicktipp.SubscribeRequest
		code string
		msg  string
	}{
		{"no email", klicktipp.SubscribeRequest{}, "32", "klicktipp: POST /subscriber: 406 error 32: email address or SMS number required"},
		{"invalid email", klicktipp.SubscribeRequest{Email: "bad@"}, "5", "klicktipp: POST /subscriber: 406 error 5: invalid email"},
		{"display name", klicktipp.SubscribeRequest{Email: "Ann <ann@example.com>"}, "5", ""},
		{"unknown list", klicktipp.SubscribeRequest{Email: "a@example.com", ListID: 999}, "402", "klicktipp: POST /subscriber: 406 error 402: list not found"},
		{"unknown tag", klicktipp.SubscribeRequest{Email: "a@example.com", TagID: 999}, "403", "klicktipp: POST /subscriber: 406 error 403: tag not found"},
		{"unknown field", klicktipp.SubscribeRequest{Email: "a@example.com", Fields: map[string]string{"fieldNope": "x"}}, "8", "klicktipp: POST /subscriber: 406 error 8: field validation failed: fieldNope is not a field of this account (value \"x\")"},
		{"bad number shows the field (n8n's details)", klicktipp.SubscribeRequest{Email: "a@example.com", Fields: map[string]string{"fieldLeadValue": "lots"}}, "8", `klicktipp: POST /subscriber: 406 error 8: field validation failed: fieldLeadValue "Lead value" must be a numeric value (value "lots")`},
		{"bad date", klicktipp.SubscribeRequest{Email: "a@example.com", Fields: map[string]string{"fieldBirthday": "01.02.1990"}}, "8", ""},
		{"bad url", klicktipp.SubscribeRequest{Email: "a@example.com", Fields: map[string]string{"fieldWebsite": "example.com"}}, "8", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Subscribe(t.Context(), tt.req)
			var ae *klicktipp.APIError
			if !errors.Is(err, apis.ErrValidation) || !errors.As(err, &ae) || ae.Code != tt.code || ae.Status != 406 {
				t.Fatalf("Subscribe = %v, want 406 ErrValidation code %s", err, tt.code)
			}
			if tt.msg != "" && err.Error() != tt.msg {
				t.Fatalf("error %q, want %q", err, tt.msg)
			}
		})
	}
	if n := len(b.srv.Subscribers()); n != 0 {
		t.Fatalf("%d subscribers stored by refused requests", n)
	}
}

func TestTag(t *testing.T) {
	modes(t, func(t *testing.T, partner bool) {
		b := setup(t, setupOpts{partner: partner})
		s := b.login(t)
		ctx := t.Context()
		if _, err := s.Subscribe(ctx, klicktipp.SubscribeRequest{Email: "bo@example.com"}); err != nil {
			t.Fatal(err)
		}
		if err := s.Tag(ctx, "bo@example.com", []int64{klicktipptest.TagVIP, klicktipptest.TagCustomer}); err != nil {
			t.Fatalf("Tag: %v", err)
		}
		if sub, _ := b.srv.Subscriber("bo@example.com"); !reflect.DeepEqual(sub.Tags, []int64{klicktipptest.TagCustomer, klicktipptest.TagVIP}) {
			t.Fatalf("tags %v", sub.Tags)
		}
		before := len(b.srv.Requests())
		if err := s.Tag(ctx, "bo@example.com", nil); err != nil || len(b.srv.Requests()) != before {
			t.Fatalf("Tag with no tags = %v, sent %d requests", err, len(b.srv.Requests())-before)
		}
		var ae *klicktipp.APIError
		err := s.Tag(ctx, "nobody@example.com", []int64{klicktipptest.TagVIP})
		if !errors.Is(err, apis.ErrValidation) || !errors.As(err, &ae) || ae.Code != "7" {
			t.Fatalf("Tag unknown contact = %v, want code 7", err)
		}
		err = s.Tag(ctx, "bo@example.com", []int64{klicktipptest.TagVIP, 999})
		if !errors.Is(err, apis.ErrValidation) || !errors.As(err, &ae) || ae.Code != "403" {
			t.Fatalf("Tag unknown tag = %v, want code 403", err)
		}
	})
}

func TestSearch(t *testing.T) {
	modes(t, func(t *testing.T, partner bool) {
		b := setup(t, setupOpts{partner: partner})
		s := b.login(t)
		sub, err := s.Subscribe(t.Context(), klicktipp.SubscribeRequest{Email: "cy@example.com"})
		if err != nil {
			t.Fatal(err)
		}
		if id, err := s.Search(t.Context(), " CY@example.com "); err != nil || id != sub.ID {
			t.Fatalf("Search = %d, %v; want %d", id, err, sub.ID)
		}
		_, err = s.Search(t.Context(), "nobody@example.com")
		var ae *klicktipp.APIError
		if !errors.Is(err, apis.ErrNotFound) || !errors.As(err, &ae) || ae.Status != 404 {
			t.Fatalf("Search absent = %v, want 404 ErrNotFound", err)
		}
		if errors.Is(err, apis.ErrValidation) || errors.Is(err, apis.ErrTransient) {
			t.Fatalf("not found matches another class: %v", err)
		}
	})
}

func TestTagsAndCreateTag(t *testing.T) {
	modes(t, func(t *testing.T, partner bool) {
		b := setup(t, setupOpts{partner: partner})
		s := b.login(t)
		ctx := t.Context()
		tags, err := s.Tags(ctx)
		want := map[int64]string{klicktipptest.TagCustomer: "customer", klicktipptest.TagVIP: "vip", klicktipptest.TagNewsletter: "newsletter"}
		if err != nil || !reflect.DeepEqual(tags, want) {
			t.Fatalf("Tags = %v, %v; want %v", tags, err, want)
		}
		id, err := s.CreateTag(ctx, "webinar 2026")
		if err != nil || id <= 0 {
			t.Fatalf("CreateTag = %d, %v", id, err)
		}
		// The fake refuses a name that exists (406 "Tag could not be
		// created."): the client lists the tags again and uses that one.
		before := b.srv.Count(http.MethodGet, "/tag")
		if again, err := s.CreateTag(ctx, "Webinar 2026"); err != nil || again != id {
			t.Fatalf("CreateTag existing = %d, %v; want %d", again, err, id)
		}
		if b.srv.Count(http.MethodGet, "/tag") != before+1 || len(b.srv.Tags()) != 4 {
			t.Fatalf("the refused create was not followed by one GET /tag, or made a second tag: %v", b.srv.Tags())
		}
		if tags, _ := s.Tags(ctx); tags[id] != "webinar 2026" {
			t.Fatalf("created tag missing: %v", tags)
		}
		if _, err := s.CreateTag(ctx, " "); !errors.Is(err, apis.ErrValidation) {
			t.Fatalf("CreateTag empty = %v, want ErrValidation", err)
		}
	})
}

func TestFieldsAndLists(t *testing.T) {
	modes(t, func(t *testing.T, partner bool) {
		b := setup(t, setupOpts{partner: partner})
		s := b.login(t)
		fields, err := s.Fields(t.Context())
		if err != nil || fields["fieldFirstName"] != "First name" || fields[klicktipptest.CustomFieldKey] != "Customer number" || len(fields) != 17 {
			t.Fatalf("Fields = %v, %v", fields, err)
		}
		lists, err := s.Lists(t.Context())
		if err != nil || lists[klicktipptest.DefaultListID] != "" || lists[klicktipptest.ListID] != "Newsletter signup" {
			t.Fatalf("Lists = %v, %v", lists, err)
		}
		if _, ok := lists[klicktipptest.DefaultListID]; !ok {
			t.Fatal("default double opt-in missing")
		}
	})
}

// TestCreateTagExistingReturnsIt: when KlickTipp answers a create of an
// existing name with that tag's id (the other possible behaviour), the
// client uses it without listing again.
func TestCreateTagExistingReturnsIt(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{fake: []klicktipptest.Option{klicktipptest.WithDuplicateTagsReturnExisting()}})
	s := b.login(t)
	id, err := s.CreateTag(t.Context(), "VIP")
	if err != nil || id != klicktipptest.TagVIP {
		t.Fatalf("CreateTag(VIP) = %d, %v; want %d", id, err, klicktipptest.TagVIP)
	}
	if n := b.srv.Count(http.MethodGet, "/tag"); n != 0 {
		t.Fatalf("%d GET /tag after a create that answered an id", n)
	}
}

// TestCreateTagDuplicatesCreated: against an API that creates a second tag
// of an existing name (WithDuplicateTagsCreated), each create makes a new
// tag; only the caller can keep a name single.
func TestCreateTagDuplicatesCreated(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{fake: []klicktipptest.Option{klicktipptest.WithDuplicateTagsCreated()}})
	s := b.login(t)
	id, err := s.CreateTag(t.Context(), "VIP")
	if err != nil || id == klicktipptest.TagVIP {
		t.Fatalf("CreateTag(VIP) = %d, %v; want a new id", id, err)
	}
	n := 0
	for _, name := range b.srv.Tags() {
		if strings.EqualFold(name, "vip") {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("%d tags named vip, want 2", n)
	}
}
