package clickyid

import (
	"encoding/json"
	"net/http"
	"regexp"
	"time"

	"crmsync/internal/apis"
)

// APIError is the error every method returns for an API answer other than
// 2xx, a network failure or an undecodable body. Match its class with
// errors.Is(err, apis.ErrRateLimited) etc.; Wait holds how long a 429 (or 503)
// asked to wait, from Retry-After or X-RateLimit-Reset.
type APIError = apis.Error

// maxMessage bounds the API's message kept in an error.
const maxMessage = 200

// errorBody is what ClickyID's error answers may carry. The shape is not
// published: "error" may be a code string or an object, the message may sit
// at the top or inside "error".
type errorBody struct {
	Error     json.RawMessage `json:"error"`
	Code      json.RawMessage `json:"code"`
	Message   string          `json:"message"`
	RequestID string          `json:"requestId"`
}

type errorObject struct {
	Code    json.RawMessage `json:"code"`
	Message string          `json:"message"`
}

// errorFor maps a response to an error: nil for 2xx, else an *APIError whose
// class follows from the status (apis.ClassOf), with the API's code, message
// and requestId, and for 429 and 503 the wait the headers ask for. It is the
// one place where statuses and error bodies are interpreted.
func errorFor(op string, status int, h http.Header, body []byte, now time.Time) error {
	if status >= 200 && status < 300 {
		return nil
	}
	e := &APIError{API: apiName, Op: op, Status: status}
	if apis.ClassOf(status) == nil {
		// 1xx (apis.Transport answers a 3xx itself, never following
		// it): not an answer the API gives.
		e.Class = apis.ErrTransient
	}
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		e.Wait = apis.WaitHint(status, h, now)
	}
	code, msg, reqID := parseErrorBody(body)
	e.Code = clean(code, 64)
	e.Message = clean(msg, maxMessage)
	if reqID = clean(reqID, 64); reqID != "" {
		if e.Message != "" {
			e.Message += " "
		}
		e.Message += "(request " + reqID + ")"
	}
	return e
}

// parseErrorBody reads code, message and requestId from an error body,
// tolerating any shape; a body that is not JSON gives its text as message.
func parseErrorBody(body []byte) (code, msg, reqID string) {
	var b errorBody
	if err := json.Unmarshal(body, &b); err != nil {
		return "", string(body), ""
	}
	code, msg, reqID = apis.Scalar(b.Code), b.Message, b.RequestID
	var s string
	var o errorObject
	switch {
	case json.Unmarshal(b.Error, &s) == nil:
		if msg == "" {
			msg = s
		} else if code == "" {
			code = s
		}
	case json.Unmarshal(b.Error, &o) == nil:
		if code == "" {
			code = apis.Scalar(o.Code)
		}
		if msg == "" {
			msg = o.Message
		}
	}
	return code, msg, reqID
}

// secretPattern finds anything shaped like a ClickyID key, so an API (or a
// proxy) that echoes the key never puts it into an error.
var secretPattern = regexp.MustCompile(`ck_(live|test)_[0-9A-Za-z]*|(?i)bearer\s+\S+`)

// clean redacts anything shaped like a key and makes s fit an error message
// (see apis.Clip).
func clean(s string, max int) string {
	return apis.Clip(secretPattern.ReplaceAllString(s, "[redacted]"), max)
}
