package klipy

import (
	"context"
	"strings"

	"crmsync/internal/apis"
)

const opUpsertPerson = "PUT /people"

// Person is one person as PUT /people takes it: "email" (required, the key
// Klipy upserts by), usually "firstName", "lastName", "title", "phone", and
// any other keys, which are sent unchanged.
type Person map[string]any

// Email returns p["email"] when it is a string, else "".
func (p Person) Email() string {
	s, _ := p["email"].(string)
	return s
}

// PersonResult is Klipy's answer to an upsert.
type PersonResult struct {
	ID string // Klipy's id of the person
	// Created is true when the person did not exist before (Klipy answered
	// 201 Created, or said "created": true); false for an update.
	Created   bool
	RequestID string // Klipy's request_id, for support; "" when not sent
}

// UpsertPerson creates the person with p's email, or updates the existing one
// (Klipy merges the given fields into it). Upserts are idempotent.
//
// A person without a non-empty string "email" is refused before anything is
// sent, with an *APIError of class apis.ErrValidation and Code
// CodeMissingEmail. API errors: apis.ErrValidation (400, 422; Code e.g.
// "invalid_email"), apis.ErrUnauthorized (401), apis.ErrForbidden (403),
// apis.ErrNotFound (404), apis.ErrRateLimited (429, Wait set),
// apis.ErrTransient (network, 5xx, undecodable body), or ctx's error.
func (c *Client) UpsertPerson(ctx context.Context, p Person) (*PersonResult, error) {
	if strings.TrimSpace(p.Email()) == "" {
		return nil, &APIError{API: apiName, Op: opUpsertPerson, Class: apis.ErrValidation, Code: CodeMissingEmail, Message: "person has no email"}
	}
	r, err := c.call(ctx, "PUT", "/people", map[string]any(p))
	if err != nil {
		return nil, err
	}
	return decodePerson(opUpsertPerson, r.status, r.body, c.key)
}
