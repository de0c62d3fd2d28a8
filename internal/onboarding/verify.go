package onboarding

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"crmsync/internal/apis"
	"crmsync/internal/apis/klicktipp"
)

// ErrKeyRejected: KlickTipp refused the Customer Key (with the username
// and the developer key).
var ErrKeyRejected = errors.New("KlickTipp rejected the customer key")

// Verifier checks a Customer Key for username with KlickTipp. It returns an
// error wrapping ErrKeyRejected when KlickTipp refuses it, and another
// error when KlickTipp could not be asked.
type Verifier func(ctx context.Context, username, customerKey string) error

// KlickTippVerifier makes one partner-mode call (GET /field, a cheap read)
// signed with developerKey and the customer key. baseURL defaults to
// klicktipp.DefaultBaseURL; hc to apis.NewHTTPClient(0).
func KlickTippVerifier(baseURL, developerKey string, hc *http.Client, allowInsecureHTTP bool) Verifier {
	return func(ctx context.Context, username, customerKey string) error {
		c, err := klicktipp.New(klicktipp.Config{BaseURL: baseURL, Username: username, DeveloperKey: developerKey,
			CustomerKey: customerKey, HTTPClient: hc, AllowInsecureHTTP: allowInsecureHTTP})
		if err != nil {
			return err
		}
		s, err := c.Login(ctx) // partner mode: no call
		if err != nil {
			return err
		}
		defer func() { _ = s.Logout(context.WithoutCancel(ctx)) }()
		if _, err := s.Fields(ctx); err != nil {
			if errors.Is(err, apis.ErrUnauthorized) || errors.Is(err, apis.ErrForbidden) {
				return fmt.Errorf("%w: %v", ErrKeyRejected, err)
			}
			return err
		}
		return nil
	}
}
