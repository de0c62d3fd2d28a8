package main

import (
	"context"
	"net/http"

	"github.com/nats-io/nats.go/jetstream"
)

// work runs the job runner until ctx is done.
func (m *Main) work(ctx context.Context, js jetstream.JetStream, cons jetstream.Consumer) error {
	<-ctx.Done()
	m.log.Info("shutting down")
	return nil
}

func (m *Main) sandboxRoutes() map[string]http.Handler { return nil }
