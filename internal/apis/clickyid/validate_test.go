package clickyid_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"crmsync/internal/apis"
	"crmsync/internal/apis/clickyid"
	"crmsync/internal/apis/clickyid/clickyidtest"
)

func TestValidateBulk(t *testing.T) {
	t.Parallel()
	type want struct {
		valid         bool
		group, domain string
		reason        string
	}
	tests := []struct {
		name string
		req  clickyid.BulkRequest
		want map[string]want
	}{
		{
			name: "target group, mode any",
			req: clickyid.BulkRequest{
				Emails:         []string{"ann@uni.example", "bob@cs.uni.example", "carl@example.com", "not-an-email", "Dee@Student.Example", "eve@notuni.example"},
				TargetGroupIDs: []string{clickyidtest.TargetGroupUni},
			},
			want: map[string]want{
				"ann@uni.example":     {true, "tg_uni", "uni.example", "domain_matched"},
				"bob@cs.uni.example":  {true, "tg_uni", "uni.example", "domain_matched"},
				"carl@example.com":    {false, "", "", "domain_not_in_target_group"},
				"not-an-email":        {false, "", "", "invalid_format"},
				"Dee@Student.Example": {true, "tg_uni", "student.example", "domain_matched"},
				"eve@notuni.example":  {false, "", "", "domain_not_in_target_group"},
			},
		},
		{
			name: "two groups, mode any",
			req: clickyid.BulkRequest{
				Emails:         []string{"a@corp.example", "b@uni.example", "c@example.org"},
				TargetGroupIDs: []string{clickyidtest.TargetGroupUni, clickyidtest.TargetGroupCorp},
				Mode:           clickyid.ModeAny,
			},
			want: map[string]want{
				"a@corp.example": {true, "tg_corp", "corp.example", "domain_matched"},
				"b@uni.example":  {true, "tg_uni", "uni.example", "domain_matched"},
				"c@example.org":  {false, "", "", "domain_not_in_target_group"},
			},
		},
		{
			name: "two groups, mode all",
			req: clickyid.BulkRequest{
				Emails:         []string{"a@corp.example", "b@uni.example"},
				TargetGroupIDs: []string{clickyidtest.TargetGroupUni, clickyidtest.TargetGroupCorp},
				Mode:           clickyid.ModeAll,
			},
			want: map[string]want{
				"a@corp.example": {false, "", "", "domain_not_in_target_group"},
				"b@uni.example":  {false, "", "", "domain_not_in_target_group"},
			},
		},
		{
			name: "offer",
			req: clickyid.BulkRequest{
				Emails:   []string{"s@student.example", "c@corp.example"},
				OfferIDs: []string{clickyidtest.OfferStudent},
			},
			want: map[string]want{
				"s@student.example": {true, "tg_uni", "student.example", "domain_matched"},
				"c@corp.example":    {false, "", "", "domain_not_in_target_group"},
			},
		},
		{
			name: "group and offer, mode all",
			req: clickyid.BulkRequest{
				Emails:         []string{"s@uni.example", "c@corp.example"},
				TargetGroupIDs: []string{clickyidtest.TargetGroupUni},
				OfferIDs:       []string{clickyidtest.OfferStudent},
				Mode:           clickyid.ModeAll,
			},
			want: map[string]want{
				"s@uni.example":  {true, "tg_uni", "uni.example", "domain_matched"},
				"c@corp.example": {false, "", "", "domain_not_in_target_group"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			res, err := b.client.ValidateBulk(context.Background(), tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if len(res) != len(tt.req.Emails) {
				t.Fatalf("%d results for %d emails", len(res), len(tt.req.Emails))
			}
			for i, r := range res {
				if r.Email != tt.req.Emails[i] {
					t.Errorf("result %d is for %q, want %q (request order)", i, r.Email, tt.req.Emails[i])
				}
				w := tt.want[r.Email]
				got := want{r.IsValid, r.TargetGroup, r.MatchedDomain, r.Reason}
				if got != w {
					t.Errorf("%s: got %+v, want %+v", r.Email, got, w)
				}
				if !json.Valid(r.ValidationDetails) {
					t.Errorf("%s: validationDetails %q is not JSON", r.Email, r.ValidationDetails)
				}
			}
			if got := b.srv.Validated(); got != len(tt.req.Emails) {
				t.Errorf("Validated() = %d, want %d", got, len(tt.req.Emails))
			}
		})
	}
}

func TestValidateBulkMaxBatch(t *testing.T) {
	t.Parallel()
	b := setup(t)
	emails := make([]string, clickyid.MaxBulk)
	for i := range emails {
		emails[i] = fmt.Sprintf("user%d@uni.example", i)
	}
	res, err := b.client.ValidateBulk(context.Background(), clickyid.BulkRequest{Emails: emails, TargetGroupIDs: []string{"tg_uni"}})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Email != emails[i] || !r.IsValid {
			t.Fatalf("result %d = %+v", i, r)
		}
	}
}

func TestValidateBulkRefusesBeforeSending(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tests := []struct {
		name string
		req  clickyid.BulkRequest
		msg  string
	}{
		{"no emails", clickyid.BulkRequest{TargetGroupIDs: []string{"tg_uni"}}, "no emails"},
		{"too many", clickyid.BulkRequest{Emails: make([]string, clickyid.MaxBulk+1), TargetGroupIDs: []string{"tg_uni"}}, "101 emails: at most 100"},
		{"bad mode", clickyid.BulkRequest{Emails: []string{"a@uni.example"}, TargetGroupIDs: []string{"tg_uni"}, Mode: "some"}, `mode "some"`},
	}
	for _, tt := range tests {
		_, err := b.client.ValidateBulk(context.Background(), tt.req)
		ae := asAPIError(t, err, apis.ErrValidation)
		if ae.Op != "POST /validate/bulk" || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%s: err = %v", tt.name, err)
		}
	}
	if n := b.srv.Count("", ""); n != 0 {
		t.Fatalf("fake saw %d requests, want none", n)
	}
}

func TestValidateBulkRejectedByAPI(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tests := []struct {
		name string
		req  clickyid.BulkRequest
		code string
	}{
		{"unknown target group", clickyid.BulkRequest{Emails: []string{"a@uni.example"}, TargetGroupIDs: []string{"tg_nope"}}, "invalid_target_group"},
		{"unknown offer", clickyid.BulkRequest{Emails: []string{"a@uni.example"}, OfferIDs: []string{"of_nope"}}, "invalid_offer"},
		{"no targets", clickyid.BulkRequest{Emails: []string{"a@uni.example"}}, "VALIDATION_ERROR"},
	}
	for _, tt := range tests {
		_, err := b.client.ValidateBulk(context.Background(), tt.req)
		ae := asAPIError(t, err, apis.ErrValidation)
		if ae.Status != 400 || ae.Code != tt.code || !strings.Contains(ae.Message, "(request req_") {
			t.Errorf("%s: err = %v (status %d, code %q)", tt.name, err, ae.Status, ae.Code)
		}
	}
	if b.srv.Validated() != 0 {
		t.Errorf("Validated() = %d after refusals", b.srv.Validated())
	}
}

func TestValidateBulkConcurrent(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const workers, calls = 8, 10
	errs := make(chan error, workers*calls)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < calls; i++ {
				_, err := b.client.ValidateBulk(context.Background(), clickyid.BulkRequest{Emails: []string{"a@uni.example", "b@corp.example"}, TargetGroupIDs: []string{"tg_uni"}})
				errs <- err
			}
		}()
	}
	waited := make(chan struct{})
	go func() { wg.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(30 * time.Second):
		t.Fatalf("the %d concurrent ValidateBulk workers did not return within 30s", workers)
	}
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := b.srv.Validated(); got != 2*workers*calls {
		t.Fatalf("Validated() = %d, want %d", got, 2*workers*calls)
	}
}
