package onboarding_test

import (
	"fmt"
	"time"

	"crmsync/internal/onboarding"
)

// A grant link for one customer, and what the callback later reads from it.
func Example() {
	s, _ := onboarding.NewSigner("0123456789abcdef0123456789abcdef")
	inv := onboarding.Invite{ID: "n1", Account: "acme", Username: "acme@example.com", Expires: time.Date(2026, 12, 8, 0, 0, 0, 0, time.UTC)}
	tok := s.Sign(inv)
	fmt.Println(onboarding.Link("", "4711", "https://crm.example.com", "TOKEN"))
	got, err := s.Verify(tok, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	fmt.Println(got.Account, got.Username, err)
	_, err = s.Verify(tok, time.Date(2026, 12, 9, 0, 0, 0, 0, time.UTC))
	fmt.Println(err)
	// Output:
	// https://app.klicktipp.com/grantapiaccess/4711?url=https%3A%2F%2Fcrm.example.com%2Fklicktipp%2Fgrant%2FTOKEN
	// acme acme@example.com <nil>
	// invite link has expired
}
