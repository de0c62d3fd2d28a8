package apis

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Limiter is what a client needs from a rate limiter: Wait before each request,
// Observe after each response. *limiter.Limiter implements it. Wait returns an
// error matching ErrRateLimited (with a RetryAfter hint) when the wait would be
// longer than the caller should hold on, or ctx's error.
type Limiter interface {
	Wait(ctx context.Context) error
	Observe(status int, header http.Header)
}

// Observer receives one call per HTTP exchange, for metrics: the API, the
// operation ("POST /subscriber"), the status (0 when no response arrived) and
// how long the exchange took. It must be safe for concurrent use.
type Observer func(api, op string, status int, took time.Duration)

// MaxBodyBytes bounds how much of a response body is read (8 MiB).
const MaxBodyBytes = 8 << 20

// DefaultTimeout is the per-request timeout of NewHTTPClient.
const DefaultTimeout = 30 * time.Second

// NewHTTPClient returns an *http.Client with the given overall timeout
// (DefaultTimeout when zero), keep-alive connections and bounded dial and TLS
// handshake times. One should be shared by all clients of a process.
func NewHTTPClient(timeout time.Duration) *http.Client {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   32,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	return &http.Client{Timeout: timeout, Transport: tr, CheckRedirect: refuseRedirect}
}

// refuseRedirect is the CheckRedirect of every request a Transport sends:
// the 3xx answer itself is returned, so no credential (an API key header,
// a session cookie, a login body) ever follows a Location to another host
// or from https down to http.
func refuseRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// redirectError is the error for a 3xx answer: it names where the Location
// points (scheme and host; path, query and user info left out, since they
// may carry tokens) and is transient, as a redirect may be a passing
// maintenance answer.
func redirectError(api, op string, status int, req *http.Request, h http.Header) *Error {
	where := "no Location"
	if loc := h.Get("Location"); loc != "" {
		where = "an unparsable Location"
		if u, err := req.URL.Parse(loc); err == nil && u.Host != "" {
			where = u.Scheme + "://" + u.Host + "/…"
		}
	}
	return &Error{API: api, Op: op, Status: status, Class: ErrTransient,
		Message: "redirect to " + where + " not followed (credentials are never sent on a redirect)"}
}

// Transport sends requests for one API client. The zero value is not usable;
// set API and HTTP at least. It is safe for concurrent use.
type Transport struct {
	API      string       // name used in errors and metrics
	HTTP     *http.Client // required
	Limiter  Limiter      // optional; nil sends without waiting
	Observer Observer     // optional
}

type skipWaitKey struct{}

// SkipLimiterWait returns a context under which Transport.Do sends without
// waiting on the limiter (it still reports the answer to it). It is for the
// one request that must not be held back by a rate-limit block: a logout,
// which frees a session instead of using the API's budget.
func SkipLimiterWait(ctx context.Context) context.Context {
	return context.WithValue(ctx, skipWaitKey{}, true)
}

// Do waits on the limiter (unless ctx comes from SkipLimiterWait), sends req, reads the whole body (up to
// MaxBodyBytes), hands status and headers to the limiter, and returns the
// response with its body already read and closed. A request that got no
// response, or whose body could not be read, returns an *Error of class
// ErrTransient (or ctx's error when ctx is done). Redirects are never
// followed, whatever t.HTTP's CheckRedirect says: a 3xx answer is an *Error
// of class ErrTransient naming the Location's host (never its path). Other
// non-2xx statuses are NOT turned into errors here: each client decodes its
// API's error body itself.
//
// The request goes straight to t.HTTP's Transport (http.DefaultTransport
// when nil), under t.HTTP.Timeout for the whole exchange, body included:
// what http.Client adds on top (redirects, a cookie jar, a copy of the
// request and its headers for each) is what Do must not do, or costs
// allocations on every request.
func (t *Transport) Do(ctx context.Context, op string, req *http.Request) (*http.Response, []byte, error) {
	if t.Limiter != nil && ctx.Value(skipWaitKey{}) == nil {
		if err := t.Limiter.Wait(ctx); err != nil {
			return nil, nil, err
		}
	}
	rt := t.HTTP.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	rctx := ctx
	if d := t.HTTP.Timeout; d > 0 {
		var cancel context.CancelFunc
		rctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	if req.Context() != rctx {
		req = req.WithContext(rctx)
	}
	start := time.Now()
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.observe(op, 0, start)
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		return nil, nil, &Error{API: t.API, Op: op, Class: ErrTransient, Err: t.timedOut(rctx, scrub(err))}
	}
	body, rerr := readBody(resp)
	resp.Body.Close()
	t.observe(op, resp.StatusCode, start)
	if t.Limiter != nil {
		t.Limiter.Observe(resp.StatusCode, resp.Header)
	}
	if rerr != nil {
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		return nil, nil, &Error{API: t.API, Op: op, Status: 0, Class: ErrTransient, Err: fmt.Errorf("reading body after status %d: %w", resp.StatusCode, t.timedOut(rctx, scrub(rerr)))}
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		return nil, nil, redirectError(t.API, op, resp.StatusCode, req, resp.Header)
	}
	return resp, body, nil
}

// timedOut names the timeout when the request's own deadline (t.HTTP.Timeout)
// ended it, as http.Client would.
func (t *Transport) timedOut(rctx context.Context, err error) error {
	if errors.Is(rctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("no complete answer within %s (HTTP_TIMEOUT): %w", t.HTTP.Timeout, err)
	}
	return err
}

// readBody reads resp's body up to MaxBodyBytes, into one buffer of the
// announced Content-Length when there is one.
func readBody(resp *http.Response) ([]byte, error) {
	r := io.LimitReader(resp.Body, MaxBodyBytes)
	n := resp.ContentLength
	if n < 0 || n > MaxBodyBytes {
		return io.ReadAll(r)
	}
	buf := bytes.NewBuffer(make([]byte, 0, n+bytes.MinRead))
	_, err := buf.ReadFrom(r)
	return buf.Bytes(), err
}

func (t *Transport) observe(op string, status int, start time.Time) {
	if t.Observer != nil {
		t.Observer(t.API, op, status, time.Since(start))
	}
}

// scrub drops the method and URL that *url.Error prepends (Op already says
// what was being done) and keeps the cause.
func scrub(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// WaitHint reads how long a response asks the caller to wait: Retry-After
// (seconds or HTTP date), else X-RateLimit-Reset (Unix seconds) when the
// status is 429 or X-RateLimit-Remaining is 0. Zero when it says nothing usable.
func WaitHint(status int, h http.Header, now time.Time) time.Duration {
	if v := h.Get("Retry-After"); v != "" {
		if s, err := strconv.ParseFloat(v, 64); err == nil && s >= 0 && s < 1e9 {
			return time.Duration(s * float64(time.Second))
		}
		if t, err := http.ParseTime(v); err == nil && t.After(now) {
			return t.Sub(now)
		}
	}
	if status == http.StatusTooManyRequests || h.Get("X-RateLimit-Remaining") == "0" {
		if v := h.Get("X-RateLimit-Reset"); v != "" {
			if s, err := strconv.ParseInt(v, 10, 64); err == nil && s > now.Unix() && s < now.Unix()+1e8 {
				return time.Unix(s, 0).Sub(now)
			}
		}
	}
	return 0
}

// NewRequest builds a request for op to url with in, when not nil, as its
// JSON body (a RawJSON as it is, anything else through json.Marshal), and
// the headers every client sends (Accept and, with a body, Content-Type:
// application/json; User-Agent crmsync-<API>/1). Callers add
// their auth headers. An encoding or URL error is an *Error of class
// ErrValidation: retrying cannot help.
func (t *Transport) NewRequest(ctx context.Context, op, method, url string, in any) (*http.Request, error) {
	var body io.Reader
	switch v := in.(type) {
	case nil:
	case RawJSON:
		body = bytes.NewReader(v)
	default:
		b, err := json.Marshal(in)
		if err != nil {
			return nil, &Error{API: t.API, Op: op, Class: ErrValidation, Message: "encoding request", Err: err}
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return nil, &Error{API: t.API, Op: op, Class: ErrValidation, Message: "building request", Err: scrub(err)}
	}
	// Room for these and the caller's auth headers without growing; the
	// constant values are shared (nothing in net/http writes to them).
	req.Header = make(http.Header, 8)
	req.Header["Accept"] = jsonValue
	ua, ok := userAgents[t.API]
	if !ok {
		ua = []string{"crmsync-" + t.API + "/1"}
	}
	req.Header["User-Agent"] = ua
	if in != nil {
		req.Header["Content-Type"] = jsonValue
	}
	return req, nil
}

// RawJSON is a request body its client encoded already (on a hot path,
// without reflection); NewRequest sends it as it is.
type RawJSON []byte

// userAgents are the User-Agent values of the three clients, made once.
var userAgents = map[string][]string{
	"klicktipp": {"crmsync-klicktipp/1"}, "klipy": {"crmsync-klipy/1"}, "clickyid": {"crmsync-clickyid/1"},
}

// jsonValue is the value of the Accept and Content-Type headers.
var jsonValue = []string{"application/json"}
