package klicktipp_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"go.uber.org/goleak"

	"crmsync/internal/apis"
	"crmsync/internal/apis/klicktipp"
	"crmsync/internal/apis/klicktipp/klicktipptest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// bundle is what most tests need: a fake and a client pointed at it.
type bundle struct {
	srv    *klicktipptest.Server
	client *klicktipp.Client
	hc     *http.Client
}

type setupOpts struct {
	partner bool
	timeout time.Duration
	fake    []klicktipptest.Option
	cfg     func(*klicktipp.Config)
}

// setup starts a fake and a client in session mode (or partner mode).
func setup(t *testing.T, o setupOpts) *bundle {
	t.Helper()
	srv := klicktipptest.NewServer(o.fake...)
	t.Cleanup(srv.Close)
	if o.timeout == 0 {
		o.timeout = 5 * time.Second
	}
	hc := apis.NewHTTPClient(o.timeout)
	t.Cleanup(hc.CloseIdleConnections)
	cfg := klicktipp.Config{BaseURL: srv.URL, Username: klicktipptest.Username, HTTPClient: hc}
	if o.partner {
		cfg.DeveloperKey, cfg.CustomerKey = klicktipptest.DeveloperKey, klicktipptest.CustomerKey
	} else {
		cfg.Password = klicktipptest.Password
	}
	if o.cfg != nil {
		o.cfg(&cfg)
	}
	c, err := klicktipp.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return &bundle{srv: srv, client: c, hc: hc}
}

// login opens a session that is logged out at cleanup.
func (b *bundle) login(t *testing.T) *klicktipp.Session {
	t.Helper()
	s, err := b.client.Login(t.Context())
	if err != nil {
		t.Fatalf("Login: %v", err)
	}
	t.Cleanup(func() {
		// Bounded: Logout waits for the session's lock, which a failed
		// test may have left held.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.Logout(ctx)
	})
	return s
}

// modes runs f once per auth mode.
func modes(t *testing.T, f func(t *testing.T, partner bool)) {
	for _, partner := range []bool{false, true} {
		name := "session"
		if partner {
			name = "partner"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f(t, partner)
		})
	}
}
