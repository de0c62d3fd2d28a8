package console_test

import (
	"fmt"
	"net/http/httptest"

	"crmsync/internal/console"
)

// A console with a password sends every page to its login form, with its
// security headers on every answer. SetJetStream gives it NATS once
// connected; mount it under console.Prefix.
func ExampleNew() {
	c, err := console.New(console.Config{Password: "a long enough password", ReadOnly: true})
	if err != nil {
		panic(err)
	}
	rec := httptest.NewRecorder()
	c.ServeHTTP(rec, httptest.NewRequest("GET", "/console/dlq", nil))
	fmt.Println(rec.Code, rec.Header().Get("Location"))
	fmt.Println(rec.Header().Get("X-Frame-Options"))
	// Output:
	// 303 /console/login?next=/console/dlq
	// DENY
}
