package klipy

import (
	"bytes"
	"encoding/json"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"time"

	"crmsync/internal/apis"
)

// APIError is the error every method returns for an API answer other than
// 2xx, a network failure or an undecodable body. Match its class with
// errors.Is(err, apis.ErrValidation) etc.; Code is Klipy's error code (e.g.
// "invalid_email"); Wait holds how long a 429 (or 503) asked to wait, from
// Retry-After or X-RateLimit-Reset. Its message never contains the API key.
type APIError = apis.Error

// Error codes Klipy (and the fake) send, and the one this client sets itself
// when it refuses a person before sending it.
const (
	CodeInvalidEmail = "invalid_email"
	CodeMissingEmail = "missing_email" // set by the client, never sent
)

// maxMessage bounds the API's message kept in an error.
const maxMessage = 200

// errorFor maps a response to an error: nil for 2xx, else an *APIError whose
// class follows from the status (apis.ClassOf: 400 and 422 validation, 401
// unauthorized, 403 forbidden, 404 not found, 429 rate limited, 5xx
// transient; 1xx and 3xx transient), with Klipy's error code and message, its
// request_id, the optional "details" added to the message, and for 429 and
// 503 the wait the headers ask for. secret (the
// API key) is redacted from everything taken from the body. It is the one
// place where error statuses and error bodies are interpreted.
func errorFor(op string, status int, h http.Header, body []byte, now time.Time, secret string) error {
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
	code, msg, reqID := parseError(body)
	if reqID == "" {
		reqID = h.Get("X-Request-Id")
	}
	if d := errorDetails(body); d != "" {
		if msg != "" {
			msg += ": "
		}
		msg += d
	}
	setDetails(e, code, msg, reqID, secret)
	return e
}

// errorDetails renders the optional "details" of an error (the docs say
// errors carry code, message and optional details, not their shape): a
// string as is, an object as "key: value" pairs sorted by key (values that
// are not scalars as compact JSON), an array as its elements joined by "; ".
// Secrets are redacted by the caller.
func errorDetails(body []byte) string {
	var top map[string]json.RawMessage
	if json.Unmarshal(body, &top) != nil {
		return ""
	}
	raw, ok := top["details"]
	if !ok {
		var inner map[string]json.RawMessage
		if json.Unmarshal(top["error"], &inner) == nil {
			raw, ok = inner["details"]
		}
	}
	if !ok {
		return ""
	}
	return renderDetail(raw, 0)
}

func renderDetail(raw json.RawMessage, depth int) string {
	if s := apis.Scalar(raw); s != "" {
		return s
	}
	var obj map[string]json.RawMessage
	if depth < 2 && json.Unmarshal(raw, &obj) == nil {
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, 0, len(keys))
		for _, k := range keys {
			if v := renderDetail(obj[k], depth+1); v != "" {
				parts = append(parts, k+": "+v)
			}
		}
		return strings.Join(parts, ", ")
	}
	var list []json.RawMessage
	if depth < 2 && json.Unmarshal(raw, &list) == nil {
		parts := make([]string, 0, len(list))
		for _, v := range list {
			if s := renderDetail(v, depth+1); s != "" {
				parts = append(parts, s)
			}
		}
		return strings.Join(parts, "; ")
	}
	var buf bytes.Buffer
	if json.Compact(&buf, raw) == nil && buf.String() != "null" {
		return buf.String()
	}
	return ""
}

// setDetails cleans code, message and request id into e.
func setDetails(e *APIError, code, msg, reqID, secret string) {
	e.Code = clean(code, 64, secret)
	e.Message = clean(msg, maxMessage, secret)
	if reqID = clean(reqID, 64, secret); reqID != "" {
		if e.Message != "" {
			e.Message += " "
		}
		e.Message += "(request " + reqID + ")"
	}
}

// parseError reads code, message and request id from an error body,
// tolerating any shape: the envelope {"object":"error","error":{"code",
// "message"},"meta":{"request_id"}}, "error" as a plain string, top-level
// "code"/"message"/"request_id". A body that is not a JSON object gives its
// text as the message.
func parseError(body []byte) (code, msg, reqID string) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return "", string(body), ""
	}
	code, msg, reqID = apis.Scalar(top["code"]), apis.Scalar(top["message"]), requestID(top)
	if raw, ok := top["error"]; ok {
		var inner map[string]json.RawMessage
		if json.Unmarshal(raw, &inner) == nil {
			if c := apis.Scalar(inner["code"]); c != "" {
				code = c
			}
			if m := apis.Scalar(inner["message"]); m != "" {
				msg = m
			}
		} else if s := apis.Scalar(raw); s != "" {
			if msg == "" {
				msg = s
			} else if code == "" {
				code = s
			}
		}
	}
	return code, msg, reqID
}

// requestID finds the request id in a decoded envelope: meta.request_id,
// else a top-level request_id or requestId.
func requestID(top map[string]json.RawMessage) string {
	var meta map[string]json.RawMessage
	if json.Unmarshal(top["meta"], &meta) == nil {
		if id := apis.Scalar(meta["request_id"]); id != "" {
			return id
		}
	}
	if id := apis.Scalar(top["request_id"]); id != "" {
		return id
	}
	return apis.Scalar(top["requestId"])
}

// secretPattern finds credentials as they would appear if an API or a proxy
// echoed a request header into a body.
var secretPattern = regexp.MustCompile(`(?i)(bearer\s+|x-klipy-api-key["']?\s*[:=]\s*["']?)[^\s"',;]+`)

// clean redacts secret and anything shaped like a credential header (Klipy
// or a proxy echoing a request into a body), then makes s fit an error
// message (see apis.Clip).
func clean(s string, max int, secret string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if secret != "" {
		s = strings.ReplaceAll(s, secret, "[redacted]")
	}
	return apis.Clip(secretPattern.ReplaceAllString(s, "${1}[redacted]"), max)
}
