package klipy_test

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"crmsync/internal/apis"
	"crmsync/internal/apis/klipy"
	"crmsync/internal/apis/klipy/klipytest"
)

type bundle struct {
	srv    *klipytest.Server
	client *klipy.Client
	hc     *http.Client
}

// setup starts a fake with opts and a client with the default key.
func setup(t *testing.T, opts ...klipytest.Option) *bundle {
	t.Helper()
	return setupWith(t, klipy.Config{APIKey: klipytest.DefaultAPIKey}, opts...)
}

// setupWith is setup with a client config; BaseURL (when empty) and
// HTTPClient (when nil) are filled in.
func setupWith(t *testing.T, cfg klipy.Config, opts ...klipytest.Option) *bundle {
	t.Helper()
	srv := klipytest.NewServer(opts...)
	t.Cleanup(srv.Close)
	hc := newHTTPClient(t, 5*time.Second)
	if cfg.BaseURL == "" {
		cfg.BaseURL = srv.URL
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = hc
	}
	c, err := klipy.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return &bundle{srv: srv, client: c, hc: cfg.HTTPClient}
}

// withKey returns a second client of b's server with another key.
func (b *bundle) withKey(t *testing.T, key string) *klipy.Client {
	t.Helper()
	c, err := klipy.New(klipy.Config{BaseURL: b.srv.URL, APIKey: key, HTTPClient: b.hc})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func newHTTPClient(t *testing.T, timeout time.Duration) *http.Client {
	hc := &http.Client{Timeout: timeout, Transport: &http.Transport{}}
	t.Cleanup(hc.CloseIdleConnections)
	return hc
}

// asAPIError asserts err is an *APIError of class want and of no other class.
func asAPIError(t *testing.T, err, want error) *klipy.APIError {
	t.Helper()
	if err == nil {
		t.Fatalf("err = nil, want %v", want)
	}
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want class %v", err, want)
	}
	for _, other := range []error{apis.ErrRateLimited, apis.ErrUnauthorized, apis.ErrForbidden, apis.ErrNotFound, apis.ErrValidation, apis.ErrTransient} {
		if other != want && errors.Is(err, other) {
			t.Fatalf("err = %v matches %v as well as %v", err, other, want)
		}
	}
	var ae *klipy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("err = %T %v, want *APIError", err, err)
	}
	return ae
}
