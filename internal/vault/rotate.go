package vault

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// Rotation counts what Rotate did.
type Rotation struct {
	Resealed int // records moved to the current master key
	Current  int // records already under it
}

// Rotate re-seals every record that is not under the current master key,
// opening it with the key that sealed it (one of the previous keys). Each
// record is replaced by compare-and-set, so a grant or revoke at the same
// moment is never overwritten (that record is read again). A record no
// key opens stops the rotation with an error naming the account.
func (v *Vault) Rotate(ctx context.Context) (Rotation, error) {
	var out Rotation
	if len(v.keys) == 0 {
		return out, ErrNoMasterKey
	}
	cur := v.keys[0]
	entries, err := v.List(ctx)
	if err != nil {
		return out, err
	}
	for _, ent := range entries {
		for attempt := 0; ; attempt++ {
			e, err := v.kv.Get(ctx, accountPrefix+ent.Name)
			if errors.Is(err, jetstream.ErrKeyNotFound) {
				break // revoked meanwhile
			}
			if err != nil {
				return out, fmt.Errorf("vault: read account %q: %w", ent.Name, err)
			}
			r, _, err := decode(ent.Name, e.Value(), e.Revision())
			if err != nil {
				return out, err
			}
			if r.KeyID == cur.id {
				out.Current++
				break
			}
			key, err := open(v.keys, ent.Name, r)
			if err != nil {
				return out, err
			}
			b, err := seal(cur, ent.Name, r.Username, key, r.GrantedAt)
			if err != nil {
				return out, err
			}
			if _, err := v.kv.Update(ctx, accountPrefix+ent.Name, b, e.Revision()); err != nil {
				var apiErr *jetstream.APIError
				if errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence && attempt < 5 {
					continue // changed under us: read it again
				}
				return out, fmt.Errorf("vault: re-seal account %q: %w", ent.Name, err)
			}
			out.Resealed++
			break
		}
	}
	return out, nil
}
