package klipy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode"

	"crmsync/internal/apis"
)

// DefaultBaseURL is the base URL of the Klipy CRM API, path prefix included:
// requests go to DefaultBaseURL + "/people".
const DefaultBaseURL = "https://api.klipy.ai/api/v1"

// APIKeyHeader is the header that carries the API key (the docs spell it
// X-Klipy-Api-Key; header names are case-insensitive). The docs also accept
// Authorization: Bearer <key>.
const APIKeyHeader = "X-KLIPY-API-KEY"

const apiName = "klipy"

// Config configures a Client. Only APIKey is required.
type Config struct {
	// BaseURL of the API including its path prefix; default DefaultBaseURL.
	// It must be https://, except for loopback hosts or when
	// AllowInsecureHTTP is set. A trailing slash is ignored.
	BaseURL string
	// APIKey is the team's API key (klipy_api_…, older keys klipy_pk_…),
	// sent as X-KLIPY-API-KEY. Required; it needs the scope people:write
	// for UpsertPerson.
	APIKey string
	// HTTPClient sends the requests; default apis.NewHTTPClient(0). Its
	// Timeout bounds each request. Share one between the clients of a process.
	HTTPClient *http.Client
	// Limiter, when set, is waited on before each request and told about each
	// response (status and rate-limit headers). Default: none.
	Limiter apis.Limiter
	// Observer, when set, is called once per HTTP exchange for metrics.
	// Default: none.
	Observer apis.Observer
	// AllowInsecureHTTP permits an http:// BaseURL to a non-loopback host.
	// Default false.
	AllowInsecureHTTP bool
}

// Client calls the Klipy CRM API with one key. It is safe for concurrent use.
type Client struct {
	base string
	key  string
	tr   apis.Transport
}

// New checks cfg and returns a Client. It fails when BaseURL is not a usable
// URL, or APIKey is missing or holds whitespace or control characters; the
// error names the field and never contains the key.
func New(cfg Config) (*Client, error) {
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	u, err := apis.ParseBaseURL(cfg.BaseURL, cfg.AllowInsecureHTTP)
	if err != nil {
		return nil, fmt.Errorf("klipy: Config.BaseURL: %w", err)
	}
	switch {
	case cfg.APIKey == "":
		return nil, errors.New("klipy: Config.APIKey is required")
	case strings.IndexFunc(cfg.APIKey, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
		return nil, errors.New("klipy: Config.APIKey must not contain whitespace or control characters")
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = apis.NewHTTPClient(0)
	}
	return &Client{
		base: u.String(),
		key:  cfg.APIKey,
		tr:   apis.Transport{API: apiName, HTTP: hc, Limiter: cfg.Limiter, Observer: cfg.Observer},
	}, nil
}

// reply is a 2xx answer: its status and body.
type reply struct {
	status int
	body   []byte
}

// call sends one request (in, when not nil, as the JSON body) and returns a
// 2xx answer; any other answer becomes an *APIError via errorFor.
func (c *Client) call(ctx context.Context, method, path string, in any) (reply, error) {
	op := method + " " + path
	req, err := c.tr.NewRequest(ctx, op, method, c.base+path, in)
	if err != nil {
		return reply{}, err
	}
	req.Header.Set(APIKeyHeader, c.key)
	resp, data, err := c.tr.Do(ctx, op, req)
	if err != nil {
		return reply{}, err
	}
	if err := errorFor(op, resp.StatusCode, resp.Header, data, time.Now(), c.key); err != nil {
		return reply{}, err
	}
	return reply{status: resp.StatusCode, body: data}, nil
}
