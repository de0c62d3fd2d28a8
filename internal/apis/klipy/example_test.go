package klipy_test

import (
	"context"
	"errors"
	"fmt"

	"crmsync/internal/apis"
	"crmsync/internal/apis/klipy"
	"crmsync/internal/apis/klipy/klipytest"
)

func Example() {
	srv := klipytest.NewServer() // a fake Klipy with one seeded key
	defer srv.Close()

	c, err := klipy.New(klipy.Config{BaseURL: srv.URL, APIKey: klipytest.DefaultAPIKey})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()

	team, err := c.Authenticate(ctx)
	fmt.Println(team, err)

	r, err := c.UpsertPerson(ctx, klipy.Person{"email": "ann@example.com", "firstName": "Ann", "lastName": "Lee", "plan": "pro"})
	fmt.Println(r.ID, r.Created, err)

	r, err = c.UpsertPerson(ctx, klipy.Person{"email": "ann@example.com", "title": "CTO"})
	fmt.Println(r.ID, r.Created, err)

	_, err = c.UpsertPerson(ctx, klipy.Person{"email": "ann@"})
	var ae *klipy.APIError
	if errors.As(err, &ae) && errors.Is(err, apis.ErrValidation) {
		fmt.Println(ae.Status, ae.Code)
	}

	p, _ := srv.Person("ann@example.com")
	fmt.Println(p["firstName"], p["title"], p["plan"])
	// Output:
	// Sandbox Team <nil>
	// per_000001 true <nil>
	// per_000001 false <nil>
	// 422 invalid_email
	// Ann CTO pro
}
