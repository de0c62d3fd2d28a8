package clickyid_test

import (
	"context"
	"errors"
	"fmt"

	"crmsync/internal/apis"
	"crmsync/internal/apis/clickyid"
	"crmsync/internal/apis/clickyid/clickyidtest"
)

func Example() {
	fake := clickyidtest.NewServer() // seeded: DefaultAPIKey, tg_uni (uni.example, student.example)
	defer fake.Close()

	c, err := clickyid.New(clickyid.Config{BaseURL: fake.URL, APIKey: clickyidtest.DefaultAPIKey})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	results, err := c.ValidateBulk(ctx, clickyid.BulkRequest{
		Emails:         []string{"ann@cs.uni.example", "bob@example.com", "not-an-email"},
		TargetGroupIDs: []string{"tg_uni"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range results {
		fmt.Printf("%s valid=%t domain=%q reason=%s\n", r.Email, r.IsValid, r.MatchedDomain, r.Reason)
	}

	_, err = c.ValidateBulk(ctx, clickyid.BulkRequest{Emails: []string{"ann@uni.example"}, TargetGroupIDs: []string{"tg_gone"}})
	fmt.Println(errors.Is(err, apis.ErrValidation))
	// Output:
	// ann@cs.uni.example valid=true domain="uni.example" reason=domain_matched
	// bob@example.com valid=false domain="" reason=domain_not_in_target_group
	// not-an-email valid=false domain="" reason=invalid_format
	// true
}
