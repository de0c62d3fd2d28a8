package klicktipp_test

import (
	"context"
	"errors"
	"fmt"

	"crmsync/internal/apis"
	"crmsync/internal/apis/klicktipp"
	"crmsync/internal/apis/klicktipp/klicktipptest"
)

// A job's life in session mode: log in once, upsert contacts, log out.
func Example() {
	srv := klicktipptest.NewServer()
	defer srv.Close()
	hc := apis.NewHTTPClient(0)
	defer hc.CloseIdleConnections()

	client, err := klicktipp.New(klicktipp.Config{
		BaseURL:    srv.URL, // default https://api.klicktipp.com
		Username:   klicktipptest.Username,
		Password:   klicktipptest.Password,
		HTTPClient: hc,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	s, err := client.Login(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Logout(context.WithoutCancel(ctx))

	sub, err := s.Subscribe(ctx, klicktipp.SubscribeRequest{
		Email:  "ann@example.com",
		ListID: klicktipptest.ListID,
		TagID:  klicktipptest.TagNewsletter,
		Fields: map[string]string{"fieldFirstName": "Ann", "fieldLastName": "Lee"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(sub.ID, sub.Status, sub.Tags, sub.Fields["fieldFirstName"])

	_, err = s.Subscribe(ctx, klicktipp.SubscribeRequest{Email: "bad@"})
	var apiErr *klicktipp.APIError
	if errors.Is(err, apis.ErrValidation) && errors.As(err, &apiErr) {
		fmt.Println(apiErr.Code, err)
	}
	// Output:
	// 881 Subscribed [21] Ann
	// 5 klicktipp: POST /subscriber: 406 error 5: invalid email
}

// Partner mode needs no login; X-Ci is derived from the two keys.
func ExampleXCI() {
	xci, err := klicktipp.XCI("0123456789abcdef", "customer-key")
	fmt.Println(xci, err)
	// Output: cZkWFoPs3rLacJ4OpaooJMMOcb/fLxbZpeeOzJFCGh1jdXN0b21lci1rZXk= <nil>
}
