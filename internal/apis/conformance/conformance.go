// Package conformance replays the recorded answers of the real APIs
// (testdata/conformance.json in each client package) through the clients
// and sends the same requests to the fakes, so a client that misreads the
// evidence, or a fake that drifts from it, fails a test. It is for tests
// only.
package conformance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"

	"crmsync/internal/apis"
)

// Classes maps a case's Want.Class to the sentinel the client's error must
// match with errors.Is.
var Classes = map[string]error{
	"rate_limited": apis.ErrRateLimited, "unauthorized": apis.ErrUnauthorized, "forbidden": apis.ErrForbidden,
	"not_found": apis.ErrNotFound, "validation": apis.ErrValidation, "transient": apis.ErrTransient,
}

// Case is one recorded answer of a real API, kept in a client package's
// testdata/conformance.json: where it comes from, the request that got it,
// the answer, what the client must make of it, and how the fake must answer
// the same request.
type Case struct {
	Name string `json:"name"`
	// Source cites the evidence: repository and file, or documentation page.
	Source string `json:"source"`
	// Request is the HTTP request the client sends for Call (and the fake
	// is sent); its body is JSON.
	Request struct {
		Method string          `json:"method"`
		Path   string          `json:"path"`
		Body   json.RawMessage `json:"body,omitempty"`
	} `json:"request"`
	// Response is the recorded answer.
	Response Answer `json:"response"`
	// Call names the client method the case replays through (each client's
	// conformance test knows its names) with Args; "" when the client has
	// no method for this request (ClientSkip says why).
	Call       string          `json:"call,omitempty"`
	Args       json.RawMessage `json:"args,omitempty"`
	ClientSkip string          `json:"client_skip,omitempty"`
	// Want is the outcome the client must report.
	Want Want `json:"want"`
	// Fake says how to send Request to the fake and how close its answer
	// must be; nil when the fake cannot be compared (Skip says why).
	Fake *FakeCheck `json:"fake,omitempty"`
}

// Answer is an HTTP answer: status, headers, body (raw text, as recorded).
type Answer struct {
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    string            `json:"body"`
}

// Want is what the client must make of a recorded answer.
type Want struct {
	// Class is "" (success) or one of rate_limited, unauthorized,
	// forbidden, not_found, validation, transient.
	Class string `json:"class"`
	Code  string `json:"code,omitempty"`
	// Contains are substrings of the error message (or, on success, of
	// the result rendered with %+v).
	Contains []string `json:"contains,omitempty"`
	// Result holds call-specific expected fields, checked by the client's
	// test.
	Result json.RawMessage `json:"result,omitempty"`
}

// FakeCheck says how the fake answers Request.
type FakeCheck struct {
	// Setup names a state the client's test prepares before sending
	// (e.g. "session", "expired", "contact", "german"); several joined by
	// commas.
	Setup string `json:"setup,omitempty"`
	// Compare is "body" (status and JSON-equal body, or equal text when
	// either is not JSON), "shape" (status, and the same JSON type; every
	// key of a recorded object present in the fake's, recursively into
	// the first element of arrays), or "status".
	Compare string `json:"compare"`
	// Headers the fake's answer must carry (any value).
	Headers []string `json:"headers,omitempty"`
	Skip    string   `json:"skip,omitempty"`
}

// LoadCases reads testdata/conformance.json of the calling package. Every
// case must cite a source.
func LoadCases(t *testing.T) []Case {
	t.Helper()
	b, err := os.ReadFile("testdata/conformance.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []Case
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cases); err != nil {
		t.Fatalf("testdata/conformance.json: %v", err)
	}
	for i, c := range cases {
		if c.Name == "" || c.Source == "" {
			t.Fatalf("case %d (%q) has no name or no source", i, c.Name)
		}
		if c.Call == "" && c.ClientSkip == "" {
			t.Fatalf("case %q replays through no client call and says not why", c.Name)
		}
		if c.Fake == nil || (c.Fake.Compare == "" && c.Fake.Skip == "") {
			t.Fatalf("case %q says nothing of the fake", c.Name)
		}
	}
	return cases
}

// Replay is a server that answers every request to the case's path with
// the recorded answer and any other request with other (for example a
// login the call needs first). It records what it got.
type Replay struct {
	*httptest.Server
	mu   sync.Mutex
	seen []string // "METHOD path body"
}

// NewReplay starts a Replay for c; other may be nil (then 599).
func NewReplay(t *testing.T, c Case, other http.HandlerFunc) *Replay {
	t.Helper()
	r := &Replay{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.seen = append(r.seen, req.Method+" "+req.URL.Path+" "+string(b))
		r.mu.Unlock()
		if req.Method == c.Request.Method && req.URL.Path == c.Request.Path {
			for k, v := range c.Response.Headers {
				w.Header().Set(k, v)
			}
			if w.Header().Get("Content-Type") == "" {
				w.Header().Set("Content-Type", "application/json")
			}
			w.WriteHeader(c.Response.Status)
			_, _ = io.WriteString(w, c.Response.Body)
			return
		}
		if other != nil {
			other(w, req)
			return
		}
		w.WriteHeader(599)
	}))
	t.Cleanup(r.Close)
	return r
}

// Hit reports whether the case's request reached the server, and checks
// that its body matched the recorded request's (JSON-equal) when one is given.
func (r *Replay) Hit(t *testing.T, c Case) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	prefix := c.Request.Method + " " + c.Request.Path + " "
	for _, s := range r.seen {
		if body, ok := strings.CutPrefix(s, prefix); ok {
			if len(c.Request.Body) > 0 && !jsonEqual([]byte(body), c.Request.Body) {
				t.Errorf("%s: the client sent %s, the recording was for %s", c.Name, body, c.Request.Body)
			}
			return
		}
	}
	t.Errorf("%s: the client never sent %s %s (it sent %q)", c.Name, c.Request.Method, c.Request.Path, r.seen)
}

// CheckFake sends c.Request to a fake at base with hdr and compares its
// answer with the recording as c.Fake.Compare says.
func CheckFake(t *testing.T, c Case, base string, hdr http.Header) {
	t.Helper()
	var body io.Reader
	if len(c.Request.Body) > 0 {
		body = bytes.NewReader(c.Request.Body)
	}
	req, err := http.NewRequestWithContext(t.Context(), c.Request.Method, base+c.Request.Path, body)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatalf("%s: fake: %v", c.Name, err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != c.Response.Status {
		t.Errorf("%s: the fake answered %d %s, the recording %d %s", c.Name, resp.StatusCode, got, c.Response.Status, c.Response.Body)
		return
	}
	for _, h := range c.Fake.Headers {
		if resp.Header.Get(h) == "" {
			t.Errorf("%s: the fake's answer has no %s header", c.Name, h)
		}
	}
	switch c.Fake.Compare {
	case "body":
		if !jsonEqual(got, []byte(c.Response.Body)) {
			t.Errorf("%s: the fake answered %s, the recording %s", c.Name, got, c.Response.Body)
		}
	case "shape":
		var want, have any
		if json.Unmarshal([]byte(c.Response.Body), &want) != nil || json.Unmarshal(got, &have) != nil {
			t.Errorf("%s: shape needs JSON on both sides: fake %s, recording %s", c.Name, got, c.Response.Body)
			return
		}
		if msg := sameShape(want, have, "$"); msg != "" {
			t.Errorf("%s: the fake's answer %s differs in shape from the recording %s: %s", c.Name, got, c.Response.Body, msg)
		}
	case "status":
	default:
		t.Fatalf("%s: unknown compare %q", c.Name, c.Fake.Compare)
	}
}

// jsonEqual compares two bodies as JSON, or as trimmed text when either is
// not JSON.
func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return string(bytes.TrimSpace(a)) == string(bytes.TrimSpace(b))
	}
	ja, _ := json.Marshal(x)
	jb, _ := json.Marshal(y)
	return bytes.Equal(ja, jb)
}

// sameShape reports where have does not have want's shape ("" when it does).
func sameShape(want, have any, at string) string {
	switch w := want.(type) {
	case map[string]any:
		h, ok := have.(map[string]any)
		if !ok {
			return fmt.Sprintf("%s: want an object, got %T", at, have)
		}
		keys := make([]string, 0, len(w))
		for k := range w {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			hv, ok := h[k]
			if !ok {
				return fmt.Sprintf("%s: no key %q", at, k)
			}
			if w[k] == nil || hv == nil {
				continue // null stands for any type
			}
			if msg := sameShape(w[k], hv, at+"."+k); msg != "" {
				return msg
			}
		}
	case []any:
		h, ok := have.([]any)
		if !ok {
			return fmt.Sprintf("%s: want an array, got %T", at, have)
		}
		if len(w) > 0 && len(h) > 0 {
			return sameShape(w[0], h[0], at+"[0]")
		}
	default:
		if fmt.Sprintf("%T", want) != fmt.Sprintf("%T", have) {
			return fmt.Sprintf("%s: want a %T, got %T", at, want, have)
		}
	}
	return ""
}
