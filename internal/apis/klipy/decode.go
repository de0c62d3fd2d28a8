package klipy

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"crmsync/internal/apis"
)

// success is a decoded 2xx answer: the members of "data" and the request id.
type success struct {
	data  map[string]json.RawMessage
	reqID string
}

// decodeSuccess reads Klipy's success envelope
// {"object":"success","data":{...},"meta":{"request_id":...}}, tolerating
// unknown fields and a bare object without "data" (then the object itself is
// the data). Anything else — not a JSON object, "data" not an object, or an
// error envelope on a 2xx — is an *APIError of class apis.ErrTransient.
func decodeSuccess(op string, status int, body []byte, secret string) (success, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return success{}, undecodable(op, status, "", err)
	}
	if top == nil {
		return success{}, undecodable(op, status, "", errors.New("body is null"))
	}
	reqID := requestID(top)
	if apis.Scalar(top["object"]) == "error" {
		code, msg, _ := parseError(body)
		e := &APIError{API: apiName, Op: op, Status: status, Class: apis.ErrTransient}
		setDetails(e, code, "error envelope on a success status: "+msg, reqID, secret)
		return success{}, e
	}
	data := top
	if raw, ok := top["data"]; ok {
		data = nil
		if err := json.Unmarshal(raw, &data); err != nil || data == nil {
			return success{}, undecodable(op, status, reqID, errors.New(`"data" is not an object`))
		}
	}
	return success{data: data, reqID: clean(reqID, 64, secret)}, nil
}

// undecodable is the error for a 2xx answer whose body is not what Klipy sends.
func undecodable(op string, status int, reqID string, err error) error {
	e := &APIError{API: apiName, Op: op, Status: status, Class: apis.ErrTransient, Err: err}
	setDetails(e, "", "undecodable response body", reqID, "")
	return e
}

// decodeTeam reads the organisation's (team's) name from GET
// /authenticate's answer, in any shape the guides show: the old guide's bare
// {"team_name"}, or the name inside "data" (the current docs say it returns
// "your organization name" but not under which key; organization_name,
// organizationName, organization (a string or an object with "name"), name
// and team_name are all read). A 2xx answer without a name is not a failed
// check: the name is "" and the error nil.
func decodeTeam(op string, status int, body []byte, secret string) (string, error) {
	s, err := decodeSuccess(op, status, body, secret)
	if err != nil {
		return "", err
	}
	for _, k := range []string{"organization_name", "organizationName", "organisation_name", "team_name", "teamName", "name"} {
		if v := apis.Scalar(s.data[k]); v != "" {
			return clean(v, 128, secret), nil
		}
	}
	for _, k := range []string{"organization", "organisation", "team"} {
		raw, ok := s.data[k]
		if !ok {
			continue
		}
		if v := apis.Scalar(raw); v != "" {
			return clean(v, 128, secret), nil
		}
		var o map[string]json.RawMessage
		if json.Unmarshal(raw, &o) == nil {
			if v := apis.Scalar(o["name"]); v != "" {
				return clean(v, 128, secret), nil
			}
		}
	}
	return "", nil
}

// decodePerson reads PUT /people's answer: the person's id, whether it was
// created (status 201, or "created": true in data), and the request id.
func decodePerson(op string, status int, body []byte, secret string) (*PersonResult, error) {
	s, err := decodeSuccess(op, status, body, secret)
	if err != nil {
		return nil, err
	}
	id := apis.Scalar(s.data["id"])
	if id == "" {
		return nil, undecodable(op, status, s.reqID, errors.New("no person id"))
	}
	var created bool
	if raw, ok := s.data["created"]; ok {
		if err := json.Unmarshal(raw, &created); err != nil {
			return nil, undecodable(op, status, s.reqID, fmt.Errorf(`"created" is not a boolean`))
		}
	}
	return &PersonResult{
		ID:        clean(id, 128, secret),
		Created:   created || status == http.StatusCreated,
		RequestID: s.reqID,
	}, nil
}
