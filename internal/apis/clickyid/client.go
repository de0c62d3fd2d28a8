package clickyid

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"time"

	"crmsync/internal/apis"
)

// DefaultBaseURL is the base URL of the ClickyID API.
const DefaultBaseURL = "https://clickyid.com/api/v1"

// Scopes an API key can carry. Bulk validation against target groups needs
// ScopeTargetGroups, against offers ScopeOffers.
const (
	ScopeTargetGroups = "validate:target-groups"
	ScopeOffers       = "validate:offers"
)

const apiName = "clickyid"

// Endpoint classes of the rate-limiting guide, each with its own per-minute
// limit per key beside the key's hourly budget (see Config.ClassLimiters).
const (
	ClassSingle       = "single"        // single validation
	ClassBulk         = "bulk"          // POST /validate/bulk
	ClassTargetGroups = "target-groups" // GET /target-groups
	ClassOffers       = "offers"        // GET /offers
)

// ClassOf returns the endpoint class of a request path.
func ClassOf(path string) string {
	switch path {
	case "/validate/bulk":
		return ClassBulk
	case "/target-groups":
		return ClassTargetGroups
	case "/offers":
		return ClassOffers
	}
	return ClassSingle
}

// Config configures a Client. Only APIKey is required.
type Config struct {
	// BaseURL of the API; default DefaultBaseURL. It must be https://, except
	// for loopback hosts or when AllowInsecureHTTP is set.
	BaseURL string
	// APIKey is the team's key, "ck_live_" followed by 40 hex digits. Required.
	APIKey string
	// HTTPClient sends the requests; default apis.NewHTTPClient(0). Its
	// Timeout bounds each request. Share one between the clients of a process.
	HTTPClient *http.Client
	// Limiter, when set, is waited on before each request and told about each
	// response (status and rate-limit headers). Default: none.
	Limiter apis.Limiter
	// ClassLimiters, when set, holds the limiter of an endpoint class
	// (ClassSingle, ClassBulk, ...), used instead of Limiter for that
	// class's requests: it should wait on the class's per-minute budget and
	// the key's hourly one (limiter.Join). Classes not in it use Limiter.
	ClassLimiters map[string]apis.Limiter
	// Observer, when set, is called once per HTTP exchange for metrics.
	Observer apis.Observer
	// AllowInsecureHTTP permits an http:// BaseURL to a non-loopback host.
	AllowInsecureHTTP bool
}

// Client calls the ClickyID API with one key. It is safe for concurrent use.
type Client struct {
	base  string
	key   string
	tr    apis.Transport
	class map[string]*apis.Transport // by endpoint class, from Config.ClassLimiters
}

var keyPattern = regexp.MustCompile(`^ck_live_[0-9a-fA-F]{40}$`)

// New checks cfg and returns a Client. It fails when BaseURL is not a usable
// URL or APIKey is missing or not a live key (ck_live_ + 40 hex digits); the
// error names the field and never contains the key.
func New(cfg Config) (*Client, error) {
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	u, err := apis.ParseBaseURL(cfg.BaseURL, cfg.AllowInsecureHTTP)
	if err != nil {
		return nil, fmt.Errorf("clickyid: Config.BaseURL: %w", err)
	}
	switch {
	case cfg.APIKey == "":
		return nil, errors.New("clickyid: Config.APIKey is required")
	case !keyPattern.MatchString(cfg.APIKey):
		return nil, errors.New("clickyid: Config.APIKey is malformed: want ck_live_ followed by 40 hex digits")
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = apis.NewHTTPClient(0)
	}
	c := &Client{
		base: u.String(),
		key:  cfg.APIKey,
		tr:   apis.Transport{API: apiName, HTTP: hc, Limiter: cfg.Limiter, Observer: cfg.Observer},
	}
	for class, l := range cfg.ClassLimiters {
		if c.class == nil {
			c.class = map[string]*apis.Transport{}
		}
		tr := c.tr
		tr.Limiter = l
		c.class[class] = &tr
	}
	return c, nil
}

// call sends one request (in, when not nil, as the JSON body) and returns the
// body of a 2xx answer; any other answer becomes an *APIError via errorFor.
func (c *Client) call(ctx context.Context, method, path string, in any) ([]byte, error) {
	op := method + " " + path
	tr := &c.tr
	if t, ok := c.class[ClassOf(path)]; ok {
		tr = t
	}
	req, err := tr.NewRequest(ctx, op, method, c.base+path, in)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	resp, data, err := tr.Do(ctx, op, req)
	if err != nil {
		return nil, err
	}
	if err := errorFor(op, resp.StatusCode, resp.Header, data, time.Now()); err != nil {
		return nil, err
	}
	return data, nil
}

// undecodable is the error for a 2xx answer whose body is not what the API sends.
func undecodable(op string, status int, err error) error {
	return &APIError{API: apiName, Op: op, Status: status, Class: apis.ErrTransient, Message: "undecodable response body", Err: err}
}
