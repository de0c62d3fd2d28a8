package klipy

import "context"

const opAuthenticate = "GET /authenticate"

// Authenticate checks the API key and returns the name of its organisation
// (team), "" when the answer names none (that is not a failure of the
// check). Errors: apis.ErrUnauthorized (401: missing, expired or revoked key),
// apis.ErrForbidden (403: a scope is missing), apis.ErrRateLimited (429, Wait set),
// apis.ErrTransient (network, 5xx, undecodable body), or ctx's error.
func (c *Client) Authenticate(ctx context.Context) (teamName string, err error) {
	r, err := c.call(ctx, "GET", "/authenticate", nil)
	if err != nil {
		return "", err
	}
	return decodeTeam(opAuthenticate, r.status, r.body, c.key)
}
