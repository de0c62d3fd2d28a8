package clickyid_test

import (
	"context"
	"reflect"
	"testing"

	"crmsync/internal/apis"
	"crmsync/internal/apis/clickyid"
	"crmsync/internal/apis/clickyid/clickyidtest"
)

func TestTargetGroups(t *testing.T) {
	t.Parallel()
	b := setup(t, clickyidtest.WithTargetGroup(clickyidtest.TargetGroup{ID: "tg_x", Name: "X", Domains: []string{"X.Example"}}))
	got, err := b.client.TargetGroups(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []clickyid.TargetGroup{
		{ID: "tg_uni", Name: "University students", Domains: []string{"uni.example", "student.example"}},
		{ID: "tg_corp", Name: "Corporate staff", Domains: []string{"corp.example"}},
		{ID: "tg_x", Name: "X", Domains: []string{"x.example"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("TargetGroups = %+v, want %+v", got, want)
	}
}

func TestOffers(t *testing.T) {
	t.Parallel()
	b := setup(t)
	got, err := b.client.Offers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []clickyid.Offer{{ID: "of_student_discount", Name: "Student discount", TargetGroupIDs: []string{"tg_uni"}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Offers = %+v, want %+v", got, want)
	}
}

func TestScopes(t *testing.T) {
	t.Parallel()
	const tgOnly = "ck_live_1111111111111111111111111111111111111111"
	const offersOnly = "ck_live_2222222222222222222222222222222222222222"
	const none = "ck_live_3333333333333333333333333333333333333333"
	srv := clickyidtest.NewServer(
		clickyidtest.WithAPIKey(tgOnly, clickyidtest.ScopeTargetGroups),
		clickyidtest.WithAPIKey(offersOnly, clickyidtest.ScopeOffers),
		clickyidtest.WithAPIKey(none),
	)
	t.Cleanup(srv.Close)
	hc := newHTTPClient(t, 0)
	client := func(key string) *clickyid.Client {
		c, err := clickyid.New(clickyid.Config{BaseURL: srv.URL, APIKey: key, HTTPClient: hc})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	ctx := context.Background()
	byGroup := clickyid.BulkRequest{Emails: []string{"a@uni.example"}, TargetGroupIDs: []string{"tg_uni"}}
	byOffer := clickyid.BulkRequest{Emails: []string{"a@uni.example"}, OfferIDs: []string{"of_student_discount"}}
	calls := map[string]func(*clickyid.Client) error{
		"TargetGroups":  func(c *clickyid.Client) error { _, err := c.TargetGroups(ctx); return err },
		"Offers":        func(c *clickyid.Client) error { _, err := c.Offers(ctx); return err },
		"bulk by group": func(c *clickyid.Client) error { _, err := c.ValidateBulk(ctx, byGroup); return err },
		"bulk by offer": func(c *clickyid.Client) error { _, err := c.ValidateBulk(ctx, byOffer); return err },
	}
	allowed := map[string]map[string]bool{
		tgOnly:     {"TargetGroups": true, "bulk by group": true},
		offersOnly: {"Offers": true, "bulk by offer": true},
		none:       {},
	}
	for key, ok := range allowed {
		c := client(key)
		for name, call := range calls {
			err := call(c)
			if ok[name] {
				if err != nil {
					t.Errorf("%s…: %s: %v", key[:10], name, err)
				}
				continue
			}
			ae := asAPIError(t, err, apis.ErrForbidden)
			if ae.Status != 403 || ae.Code != "INSUFFICIENT_SCOPE" {
				t.Errorf("%s…: %s: %v", key[:10], name, err)
			}
		}
	}
}
