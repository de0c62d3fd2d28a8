package vault

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Bucket is the KV bucket of granted accounts.
const Bucket = "CRMSYNC_ACCOUNTS"

const (
	accountPrefix = "account."
	tokenPrefix   = "token."
)

// Ensure creates or updates the bucket (file storage, one revision per key,
// replicas as the streams; markers of expired used-token keys kept 1 h).
func Ensure(ctx context.Context, js jetstream.JetStream, replicas int) (jetstream.KeyValue, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:         Bucket,
		Description:    "crmsync KlickTipp accounts granted through onboarding (internal/vault); customer keys sealed",
		History:        1,
		Storage:        jetstream.FileStorage,
		Replicas:       max(replicas, 1),
		LimitMarkerTTL: time.Hour,
	})
	if err != nil {
		return nil, fmt.Errorf("vault: ensure KV bucket %s: %w", Bucket, err)
	}
	return kv, nil
}

// Vault is the granted accounts in one bucket. Keys are the master keys:
// the first seals, every one opens what it sealed. With no key, List,
// Revoke and Claim work and the rest return ErrNoMasterKey.
type Vault struct {
	kv   jetstream.KeyValue
	keys []*MasterKey
	now  func() time.Time
}

// New returns a Vault on kv. current seals new grants; previous keys (a
// rotation in progress) only open. Nil keys are skipped.
func New(kv jetstream.KeyValue, current *MasterKey, previous ...*MasterKey) *Vault {
	v := &Vault{kv: kv, now: time.Now}
	for _, k := range append([]*MasterKey{current}, previous...) {
		if k != nil {
			v.keys = append(v.keys, k)
		}
	}
	if current == nil {
		v.keys = nil
	}
	return v
}

// Grant stores (or replaces) account name's username and Customer Key,
// sealed under the current master key.
func (v *Vault) Grant(ctx context.Context, name, username, customerKey string) (Entry, error) {
	if !ValidName(name) {
		return Entry{}, ErrBadName
	}
	if len(v.keys) == 0 {
		return Entry{}, ErrNoMasterKey
	}
	if strings.TrimSpace(username) == "" || strings.TrimSpace(customerKey) == "" {
		return Entry{}, fmt.Errorf("vault: account %q: username and customer key are required", name)
	}
	at := v.now().UTC().Truncate(time.Second)
	b, err := seal(v.keys[0], name, username, customerKey, at)
	if err != nil {
		return Entry{}, err
	}
	rev, err := v.kv.Put(ctx, accountPrefix+name, b)
	if err != nil {
		return Entry{}, fmt.Errorf("vault: store account %q: %w", name, err)
	}
	return Entry{Name: name, Username: username, GrantedAt: at, Hint: hint(customerKey), KeyID: v.keys[0].id, Revision: rev}, nil
}

// Revoke deletes account name; ErrNotFound when it was not granted.
func (v *Vault) Revoke(ctx context.Context, name string) error {
	if !ValidName(name) {
		return ErrBadName
	}
	if _, err := v.kv.Get(ctx, accountPrefix+name); err != nil {
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return fmt.Errorf("account %q: %w", name, ErrNotFound)
		}
		return fmt.Errorf("vault: read account %q: %w", name, err)
	}
	if err := v.kv.Delete(ctx, accountPrefix+name); err != nil {
		return fmt.Errorf("vault: revoke account %q: %w", name, err)
	}
	return nil
}

// Get returns account name with its Customer Key opened.
func (v *Vault) Get(ctx context.Context, name string) (Account, error) {
	if !ValidName(name) {
		return Account{}, ErrBadName
	}
	e, err := v.kv.Get(ctx, accountPrefix+name)
	if err != nil {
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return Account{}, fmt.Errorf("account %q: %w", name, ErrNotFound)
		}
		return Account{}, fmt.Errorf("vault: read account %q: %w", name, err)
	}
	return v.Open(name, e.Value(), e.Revision())
}

// Open decodes and decrypts the stored value of account name.
func (v *Vault) Open(name string, value []byte, rev uint64) (Account, error) {
	r, ent, err := decode(name, value, rev)
	if err != nil {
		return Account{}, err
	}
	key, err := open(v.keys, name, r)
	if err != nil {
		return Account{Entry: ent}, err
	}
	return Account{Entry: ent, CustomerKey: key}, nil
}

// List returns every granted account, sorted by name, without opening the
// keys (no master key needed).
func (v *Vault) List(ctx context.Context) ([]Entry, error) {
	lister, err := v.kv.ListKeysFiltered(ctx, accountPrefix+">")
	if err != nil {
		return nil, fmt.Errorf("vault: list accounts: %w", err)
	}
	var out []Entry
	for k := range lister.Keys() {
		name := strings.TrimPrefix(k, accountPrefix)
		e, err := v.kv.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // revoked meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("vault: read account %q: %w", name, err)
		}
		_, ent, err := decode(name, e.Value(), e.Revision())
		if err != nil {
			return nil, err
		}
		out = append(out, ent)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Claim marks invite token id used, atomically: the second claim of the
// same id returns ErrUsed. The mark expires after ttl (the token's
// remaining life, at least 1 s), when the token could not be used anyway.
// name is the account the invite is for, kept as the mark's value.
func (v *Vault) Claim(ctx context.Context, id, name string, ttl time.Duration) error {
	if !validTokenID(id) {
		return fmt.Errorf("vault: bad token id")
	}
	_, err := v.kv.Create(ctx, tokenPrefix+id, []byte(name), jetstream.KeyTTL(max(ttl, time.Second)))
	if errors.Is(err, jetstream.ErrKeyExists) {
		return ErrUsed
	}
	if err != nil {
		return fmt.Errorf("vault: claim invite: %w", err)
	}
	return nil
}

// Release undoes a Claim whose grant did not happen, so the invite can be
// used again.
func (v *Vault) Release(ctx context.Context, id string) error {
	if !validTokenID(id) {
		return fmt.Errorf("vault: bad token id")
	}
	if err := v.kv.Purge(ctx, tokenPrefix+id); err != nil {
		return fmt.Errorf("vault: release invite: %w", err)
	}
	return nil
}

func validTokenID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
