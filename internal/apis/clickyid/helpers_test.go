package clickyid_test

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"crmsync/internal/apis"
	"crmsync/internal/apis/clickyid"
	"crmsync/internal/apis/clickyid/clickyidtest"
)

type bundle struct {
	srv    *clickyidtest.Server
	client *clickyid.Client
	hc     *http.Client
}

// setup starts a fake with opts and a client with the default key.
func setup(t *testing.T, opts ...clickyidtest.Option) *bundle {
	t.Helper()
	return setupWith(t, clickyid.Config{APIKey: clickyidtest.DefaultAPIKey}, opts...)
}

// setupWith is setup with a client config; BaseURL and HTTPClient are filled in.
func setupWith(t *testing.T, cfg clickyid.Config, opts ...clickyidtest.Option) *bundle {
	t.Helper()
	srv := clickyidtest.NewServer(opts...)
	hc := newHTTPClient(t, 5*time.Second)
	t.Cleanup(srv.Close)
	cfg.BaseURL = srv.URL
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = hc
	}
	c, err := clickyid.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return &bundle{srv: srv, client: c, hc: hc}
}

func newHTTPClient(t *testing.T, timeout time.Duration) *http.Client {
	hc := &http.Client{Timeout: timeout, Transport: &http.Transport{}}
	t.Cleanup(hc.CloseIdleConnections)
	return hc
}

// asAPIError asserts err is an *APIError of class want.
func asAPIError(t *testing.T, err, want error) *clickyid.APIError {
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
	var ae *clickyid.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("err = %T %v, want *APIError", err, err)
	}
	return ae
}
