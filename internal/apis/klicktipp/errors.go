package klicktipp

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"crmsync/internal/apis"
)

// accessDenied holds KlickTipp's answer to an expired or invalid session, a
// bad partner signature, and an account without API access alike, in the
// two languages it is known to answer in: English (the OpenAPI spec) and
// German (the recorded answers in d3datadevelopment/klicktipp-php-client).
var accessDenied = map[string]bool{
	"api access denied.":      true,
	"api access denied":       true,
	"api zugriff verweigert":  true,
	"api zugriff verweigert.": true,
}

// isAccessDenied reports whether msg is KlickTipp's "access denied" answer.
func isAccessDenied(msg string) bool {
	return accessDenied[strings.ToLower(strings.TrimSpace(msg))]
}

// notLoggedIn holds KlickTipp's answer to a logout of a session that is
// already closed (406; recorded in d3datadevelopment/klicktipp-php-client's
// tests in German; the English text is a guess from the API's other texts).
var notLoggedIn = map[string]bool{
	"benutzer nicht eingeloggt.": true,
	"benutzer nicht eingeloggt":  true,
	"user not logged in.":        true,
	"user not logged in":         true,
}

// maxMessage bounds the length of APIError.Message.
const maxMessage = 300

// codeText names KlickTipp's 406 error codes (from the API reference).
var codeText = map[int]string{
	4:   "subscription not found",
	5:   "invalid email",
	7:   "subscriber email not found",
	8:   "field validation failed",
	9:   "subscriber not subscribed",
	10:  "subscriber update failed",
	30:  "email address change not allowed",
	31:  "untagging a smart tag is not allowed",
	32:  "email address or SMS number required",
	100: "invalid API key",
	401: "user not found",
	402: "list not found",
	403: "tag not found",
	404: "user group not found",
	405: "campaign not found",
	406: "tier not found",
	501: "email address required",
	502: "username required",
	503: "password required",
	504: "first name required",
	505: "last name required",
	506: "username exists",
	507: "email address exists",
	508: "user update failed",
}

// errorFrom maps one non-2xx answer to an *APIError. It is the only place
// where statuses and error bodies are interpreted:
//
//   - 406 {"error": N[, "code": M]} → ErrValidation, Code N, a readable
//     message (N = 100, invalid API key, → ErrUnauthorized); validation
//     details the body carries (field, name, field_value, reason, as the
//     official n8n node reads them) are added to the message; 406 with an
//     array of strings → ErrValidation with the strings as message;
//   - 401 → ErrUnauthorized, unless the body is {"error": N} with N other
//     than 100 (KlickTipp's recorded answer to a subscribe without email is
//     401 {"error": 32}): then ErrValidation;
//   - 403 "API access denied." or "API Zugriff verweigert" (or no message)
//     → ErrUnauthorized (KlickTipp says this for expired sessions and bad
//     partner keys); any other 403 → ErrForbidden;
//   - 404 → ErrNotFound; 429 → ErrRateLimited; 408 and 5xx → ErrTransient;
//     other 4xx → ErrValidation.
//
// A Session logs in again once on any 401 or 403 whatever its class (see
// Session.call); the class is what the caller sees after that.
//
// scrub, when not nil, redacts secrets from the message before it is
// clipped to maxMessage bytes (so no head of a secret survives a cut).
// Wait is set from Retry-After or X-RateLimit-Reset whatever the status.
func errorFrom(op string, status int, h http.Header, body []byte, scrub func(string) string) *APIError {
	e := &APIError{API: "klicktipp", Op: op, Status: status}
	e.Wait = apis.WaitHint(status, h, time.Now())
	msgs, code, sub, isCode := parseErrorBody(body)
	switch {
	case isCode:
		e.Code = strconv.FormatInt(code, 10)
		text, ok := codeText[int(code)]
		if !ok {
			text = "unknown error"
		}
		if sub != "" {
			text += " (code " + sub + ")"
		}
		if d := details(body); d != "" {
			text += ": " + d
		}
		e.Message = text
	case len(msgs) > 0:
		e.Message = strings.Join(msgs, "; ")
	default:
		e.Message = http.StatusText(status)
	}
	if scrub != nil {
		e.Message = scrub(e.Message)
	}
	e.Message = apis.Clip(e.Message, maxMessage)
	switch {
	case status == http.StatusUnauthorized:
		e.Class = apis.ErrUnauthorized
		if isCode && code != 100 {
			e.Class = apis.ErrValidation
		}
	case status == http.StatusForbidden:
		e.Class = apis.ErrForbidden
		if len(msgs) == 0 || isAccessDenied(msgs[0]) {
			e.Class = apis.ErrUnauthorized
		}
	case status == http.StatusNotAcceptable:
		e.Class = apis.ErrValidation
		if isCode && code == 100 {
			e.Class = apis.ErrUnauthorized
		}
	case status == http.StatusTooManyRequests:
		e.Class = apis.ErrRateLimited
	default:
		e.Class = apis.ClassOf(status)
		if e.Class == nil {
			// 1xx or 3xx: nothing this client can act on.
			e.Class = apis.ErrTransient
		}
	}
	return e
}

// details renders the validation details a 406 body may carry beside its
// error code — {"error": 8, "field": "Lead Value", "name": "fieldLeadValue",
// "field_value": "abc", "reason": "must be a numeric value"} — the way the
// official n8n node shows them: `fieldLeadValue "Lead Value" must be a
// numeric value (value "abc")`. "" when there are none.
func details(body []byte) string {
	var d struct {
		Field      json.RawMessage `json:"field"`
		Name       json.RawMessage `json:"name"`
		FieldValue json.RawMessage `json:"field_value"`
		Reason     json.RawMessage `json:"reason"`
	}
	if json.Unmarshal(body, &d) != nil {
		return ""
	}
	field, name := strings.TrimSpace(apis.Scalar(d.Field)), strings.TrimSpace(apis.Scalar(d.Name))
	value, reason := strings.TrimSpace(apis.Scalar(d.FieldValue)), strings.TrimSpace(apis.Scalar(d.Reason))
	var parts []string
	if name != "" {
		parts = append(parts, name)
	}
	if field != "" && field != name {
		parts = append(parts, strconv.Quote(field))
	}
	if reason != "" {
		parts = append(parts, reason)
	}
	if value != "" {
		parts = append(parts, "(value "+strconv.Quote(apis.Clip(value, 60))+")")
	}
	return strings.Join(parts, " ")
}

// parseErrorBody reads the two error shapes: an array of strings, or an
// object {"error": N, "code": M} (N and M numbers or numeric strings; an
// object may also carry a "message" or "error_message" string).
func parseErrorBody(body []byte) (msgs []string, code int64, sub string, isCode bool) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, 0, "", false
	}
	switch body[0] {
	case '[':
		var raw []json.RawMessage
		if json.Unmarshal(body, &raw) != nil {
			return nil, 0, "", false
		}
		for _, r := range raw {
			var s string
			if json.Unmarshal(r, &s) == nil && strings.TrimSpace(s) != "" {
				msgs = append(msgs, strings.TrimSpace(s))
			}
		}
		return msgs, 0, "", false
	case '{':
		var obj struct {
			Error        json.RawMessage `json:"error"`
			Code         json.RawMessage `json:"code"`
			Message      string          `json:"message"`
			ErrorMessage string          `json:"error_message"`
		}
		if json.Unmarshal(body, &obj) != nil {
			return nil, 0, "", false
		}
		for _, m := range []string{obj.ErrorMessage, obj.Message} {
			if m = strings.TrimSpace(m); m != "" {
				msgs = append(msgs, m)
			}
		}
		var id flexID
		if len(obj.Error) > 0 && json.Unmarshal(obj.Error, &id) == nil && id != 0 {
			code, isCode = int64(id), true
			var c flexID
			if len(obj.Code) > 0 && json.Unmarshal(obj.Code, &c) == nil && c != 0 {
				sub = strconv.FormatInt(int64(c), 10)
			}
		} else if len(obj.Error) > 0 {
			var s string
			if json.Unmarshal(obj.Error, &s) == nil && strings.TrimSpace(s) != "" {
				msgs = append([]string{strings.TrimSpace(s)}, msgs...)
			}
		}
		return msgs, code, sub, isCode
	}
	return nil, 0, "", false
}

// IsListNotFound reports whether err is KlickTipp's 406 error 402: the
// opt-in list a request named (listid) does not exist.
func IsListNotFound(err error) bool {
	var e *APIError
	return errors.As(err, &e) && e.API == "klicktipp" && e.Status == http.StatusNotAcceptable && e.Code == "402"
}
