package vault

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
)

// Change is one account's new state, as Watch reports it.
type Change struct {
	Name string
	// Account is the account with its key opened; nil when it was revoked
	// or its record cannot be opened (then Err says why, without a secret).
	Account *Account
	Err     error
}

// Watch calls apply for every granted account, then ready once (the
// initial state is complete), then apply again for every later grant,
// re-grant or revoke, until ctx is done (it returns nil) or the watch
// fails. apply and ready are called from Watch's goroutine, one at a time.
// The underlying watcher survives NATS reconnects.
func (v *Vault) Watch(ctx context.Context, apply func(Change), ready func()) error {
	w, err := v.kv.Watch(ctx, accountPrefix+">")
	if err != nil {
		return fmt.Errorf("vault: watch %s: %w", Bucket, err)
	}
	defer func() { _ = w.Stop() }()
	initial := true
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-w.Updates():
			if !ok {
				if ctx.Err() != nil {
					return nil
				}
				return errors.New("vault: watch of " + Bucket + " ended")
			}
			if e == nil {
				if initial {
					initial = false
					if ready != nil {
						ready()
					}
				}
				continue
			}
			apply(v.change(e))
		}
	}
}

func (v *Vault) change(e jetstream.KeyValueEntry) Change {
	name := strings.TrimPrefix(e.Key(), accountPrefix)
	if e.Operation() != jetstream.KeyValuePut {
		return Change{Name: name}
	}
	a, err := v.Open(name, e.Value(), e.Revision())
	if err != nil {
		return Change{Name: name, Err: err}
	}
	return Change{Name: name, Account: &a}
}
