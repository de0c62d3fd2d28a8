package clickyid

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"crmsync/internal/apis"
)

// MaxBulk is the most emails one ValidateBulk call may carry.
const MaxBulk = 100

// Validation modes.
const (
	ModeAny = "any" // valid when the email matches one of the targets (default)
	ModeAll = "all" // valid when it matches every target
)

const opBulk = "POST /validate/bulk"

// BulkRequest is one bulk validation: 1 to MaxBulk emails against target
// groups and/or offers.
type BulkRequest struct {
	Emails         []string
	TargetGroupIDs []string // needs scope validate:target-groups
	OfferIDs       []string // needs scope validate:offers
	Mode           string   // ModeAny (default when empty) or ModeAll
}

// Result is ClickyID's answer for one email.
type Result struct {
	Email   string
	IsValid bool
	// TargetGroup is the matched target group's id (ClickyID documents an
	// object; its "id", else its "name"; an id string is accepted too); ""
	// when none.
	TargetGroup   string
	MatchedDomain string // the target group domain the email matched; "" when none
	Reason        string // e.g. "domain_not_in_target_group", "invalid_format"
	// ValidationDetails is passed through as ClickyID sent it (nil if absent).
	ValidationDetails json.RawMessage
}

// ValidateBulk validates req.Emails and returns one Result per email, in
// request order. It refuses, before sending anything, zero emails, more than
// MaxBulk, or an unknown mode, with an *APIError of class apis.ErrValidation.
// API errors: apis.ErrValidation (400: e.g. an unknown target group or offer),
// apis.ErrUnauthorized (401), apis.ErrForbidden (403: the key lacks a scope),
// apis.ErrRateLimited (429, Wait set from the headers), apis.ErrTransient
// (network, 5xx, or a body that cannot be decoded or does not answer every email).
func (c *Client) ValidateBulk(ctx context.Context, req BulkRequest) ([]Result, error) {
	mode := req.Mode
	if mode == "" {
		mode = ModeAny
	}
	switch {
	case len(req.Emails) == 0:
		return nil, &APIError{API: apiName, Op: opBulk, Class: apis.ErrValidation, Message: "no emails to validate"}
	case len(req.Emails) > MaxBulk:
		return nil, &APIError{API: apiName, Op: opBulk, Class: apis.ErrValidation, Message: fmt.Sprintf("%d emails: at most %d per call", len(req.Emails), MaxBulk)}
	case mode != ModeAny && mode != ModeAll:
		return nil, &APIError{API: apiName, Op: opBulk, Class: apis.ErrValidation, Message: fmt.Sprintf("mode %q: want %q or %q", clean(mode, 32), ModeAny, ModeAll)}
	}
	in := struct {
		Emails         []string `json:"emails"`
		TargetGroupIDs []string `json:"targetGroupIds,omitempty"`
		OfferIDs       []string `json:"offerIds,omitempty"`
		Mode           string   `json:"mode"`
	}{req.Emails, req.TargetGroupIDs, req.OfferIDs, mode}
	body, err := c.call(ctx, "POST", "/validate/bulk", in)
	if err != nil {
		return nil, err
	}
	res, err := decodeBulk(body, req.Emails)
	if err != nil {
		return nil, undecodable(opBulk, 200, err)
	}
	return res, nil
}

// bulkResult is one element of "results", decoded in the same pass as the
// envelope: targetGroup (documented as an object) may also be an id or
// null, matchedDomain and reason may be null.
type bulkResult struct {
	Email             string          `json:"email"`
	IsValid           bool            `json:"isValid"`
	TargetGroup       targetGroupRef  `json:"targetGroup"`
	MatchedDomain     string          `json:"matchedDomain"`
	Reason            string          `json:"reason"`
	ValidationDetails json.RawMessage `json:"validationDetails"`
}

// decodeBulk is the one place the bulk response is decoded, in one pass
// over the body (scanBulk). The outer shape is not published; it is taken to be
// {"results":[…],"requestId"}, and {"data":{"results":[…]}} and a bare
// array are accepted too; unknown fields are ignored. It returns one Result
// per requested email in request order: by position when the counts agree
// (and every result that names an email names that one), else by email
// (case-insensitively), and fails when an email has no answer.
func decodeBulk(body []byte, emails []string) ([]Result, error) {
	raw, err := scanBulk(body)
	if err != nil {
		return nil, err
	}
	out := make([]Result, len(emails))
	if len(raw) == len(emails) {
		positional := true
		for i := range raw {
			if raw[i].Email != "" && !sameEmail(raw[i].Email, emails[i]) {
				positional = false
				break
			}
		}
		if positional {
			for i := range raw {
				out[i] = raw[i].result(emails[i])
			}
			return out, nil
		}
	}
	byEmail := make(map[string]int, len(raw))
	for i := range raw {
		k := strings.ToLower(strings.TrimSpace(raw[i].Email))
		if _, dup := byEmail[k]; !dup {
			byEmail[k] = i
		}
	}
	for i, e := range emails {
		j, ok := byEmail[strings.ToLower(strings.TrimSpace(e))]
		if !ok {
			return nil, fmt.Errorf("%d results for %d emails, and email #%d has none", len(raw), len(emails), i+1)
		}
		out[i] = raw[j].result(e)
	}
	return out, nil
}

// result is r as the Result for email (the email as requested).
func (r *bulkResult) result(email string) Result {
	out := Result{Email: email, IsValid: r.IsValid, TargetGroup: string(r.TargetGroup), MatchedDomain: r.MatchedDomain, Reason: r.Reason}
	if len(r.ValidationDetails) > 0 && string(r.ValidationDetails) != "null" {
		out.ValidationDetails = r.ValidationDetails // a view of this call's own body
	}
	return out
}

func sameEmail(a, b string) bool {
	return strings.EqualFold(strings.TrimSpace(a), strings.TrimSpace(b))
}

// targetGroupRef is a target group as a result names it: an object with
// "id" (documented; "name" when it has no id), an id string or number, or
// null ("").
type targetGroupRef string

// UnmarshalJSON reads the one value it is given by its first byte, so no
// shape is decoded twice.
func (t *targetGroupRef) UnmarshalJSON(b []byte) error {
	switch {
	case len(b) == 0 || b[0] == 'n':
		*t = ""
	case b[0] == '"':
		s, err := jsonString(b)
		if err != nil {
			return err
		}
		*t = targetGroupRef(s)
	case b[0] == '{':
		var o struct {
			ID   targetGroupRef `json:"id"`
			Name string         `json:"name"`
		}
		if err := json.Unmarshal(b, &o); err != nil {
			return err
		}
		*t = o.ID
		if *t == "" {
			*t = targetGroupRef(o.Name)
		}
	case b[0] == '-' || (b[0] >= '0' && b[0] <= '9'):
		*t = targetGroupRef(b) // a number, as its text
	default:
		*t = "" // true, false, an array: not an id
	}
	return nil
}

// jsonString decodes a JSON string literal; without escapes it is a slice.
func jsonString(b []byte) (string, error) {
	if len(b) >= 2 && bytes.IndexByte(b, '\\') < 0 && utf8.Valid(b) {
		return string(b[1 : len(b)-1]), nil
	}
	var s string
	err := json.Unmarshal(b, &s)
	return s, err
}
