package klicktipp

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"crmsync/internal/apis"
)

// accessDenied is KlickTipp's answer to an expired or invalid session, a bad
// partner signature, and an account without API access alike.
const accessDenied = "API access denied."

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
//     message (N = 100, invalid API key, → ErrUnauthorized); 406 with an
//     array of strings → ErrValidation with the strings as message;
//   - 401 → ErrUnauthorized; 403 ["API access denied."] → ErrUnauthorized
//     (KlickTipp says this for expired sessions and bad partner keys); any
//     other 403 → ErrForbidden;
//   - 404 → ErrNotFound; 429 → ErrRateLimited; 408 and 5xx → ErrTransient;
//     other 4xx → ErrValidation.
//
// Wait is set from Retry-After or X-RateLimit-Reset whatever the status.
func errorFrom(op string, status int, h http.Header, body []byte) *APIError {
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
		e.Message = text
	case len(msgs) > 0:
		e.Message = strings.Join(msgs, "; ")
	default:
		e.Message = http.StatusText(status)
	}
	e.Message = apis.Clip(e.Message, maxMessage)
	switch {
	case status == http.StatusUnauthorized:
		e.Class = apis.ErrUnauthorized
	case status == http.StatusForbidden:
		e.Class = apis.ErrForbidden
		if len(msgs) == 0 || msgs[0] == accessDenied {
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
