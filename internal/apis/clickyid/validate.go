package clickyid

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

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
	Email         string
	IsValid       bool
	TargetGroup   string // the matched target group's id; "" when none
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

// bulkResult is one element of "results". targetGroup may be an id, an
// object with an id, or null.
type bulkResult struct {
	Email             string          `json:"email"`
	IsValid           bool            `json:"isValid"`
	TargetGroup       json.RawMessage `json:"targetGroup"`
	MatchedDomain     *string         `json:"matchedDomain"`
	Reason            *string         `json:"reason"`
	ValidationDetails json.RawMessage `json:"validationDetails"`
}

// decodeBulk is the one place the bulk response is decoded. The outer shape
// is not published; it is taken to be {"results":[…],"requestId"} (a bare
// array is accepted too), unknown fields are ignored. It returns one Result
// per requested email in request order: by position when the counts agree,
// else by email (case-insensitively), and fails when an email has no answer.
func decodeBulk(body []byte, emails []string) ([]Result, error) {
	var raw []bulkResult
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) > 0 && trimmed[0] == '[' {
		if err := json.Unmarshal(trimmed, &raw); err != nil {
			return nil, err
		}
	} else {
		var env struct {
			Results *[]bulkResult `json:"results"`
		}
		if err := json.Unmarshal(trimmed, &env); err != nil {
			return nil, err
		}
		if env.Results == nil {
			return nil, errors.New(`no "results" in response`)
		}
		raw = *env.Results
	}
	conv := func(r bulkResult, email string) Result {
		out := Result{Email: email, IsValid: r.IsValid, TargetGroup: targetGroupID(r.TargetGroup)}
		if r.MatchedDomain != nil {
			out.MatchedDomain = *r.MatchedDomain
		}
		if r.Reason != nil {
			out.Reason = *r.Reason
		}
		if len(r.ValidationDetails) > 0 && string(r.ValidationDetails) != "null" {
			out.ValidationDetails = append(json.RawMessage(nil), r.ValidationDetails...)
		}
		return out
	}
	out := make([]Result, len(emails))
	if len(raw) == len(emails) {
		positional := true
		for i, r := range raw {
			if r.Email != "" && !sameEmail(r.Email, emails[i]) {
				positional = false
				break
			}
		}
		if positional {
			for i, r := range raw {
				out[i] = conv(r, emails[i])
			}
			return out, nil
		}
	}
	byEmail := make(map[string]bulkResult, len(raw))
	for _, r := range raw {
		k := strings.ToLower(strings.TrimSpace(r.Email))
		if _, dup := byEmail[k]; !dup {
			byEmail[k] = r
		}
	}
	for i, e := range emails {
		r, ok := byEmail[strings.ToLower(strings.TrimSpace(e))]
		if !ok {
			return nil, fmt.Errorf("%d results for %d emails, and email #%d has none", len(raw), len(emails), i+1)
		}
		out[i] = conv(r, e)
	}
	return out, nil
}

func sameEmail(a, b string) bool {
	return strings.EqualFold(strings.TrimSpace(a), strings.TrimSpace(b))
}

// targetGroupID reads a target group given as an id string, a number, or an
// object with "id" (or only "name").
func targetGroupID(raw json.RawMessage) string {
	if s := apis.Scalar(raw); s != "" {
		return s
	}
	var o struct {
		ID   json.RawMessage `json:"id"`
		Name string          `json:"name"`
	}
	if json.Unmarshal(raw, &o) == nil {
		if id := apis.Scalar(o.ID); id != "" {
			return id
		}
		return o.Name
	}
	return ""
}
