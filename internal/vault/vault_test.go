package vault_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"crmsync/internal/broker/brokertest"
	"crmsync/internal/vault"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newKey(t *testing.T) (*vault.MasterKey, string) {
	t.Helper()
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	s := hex.EncodeToString(b)
	k, err := vault.ParseMasterKey(s)
	if err != nil {
		t.Fatal(err)
	}
	return k, s
}

type bundle struct {
	kv  jetstream.KeyValue
	ctx context.Context
}

func setup(t *testing.T) bundle {
	t.Helper()
	srv := brokertest.Start(t)
	_, js := srv.Connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	kv, err := vault.Ensure(ctx, js, 1)
	if err != nil {
		t.Fatal(err)
	}
	return bundle{kv: kv, ctx: ctx}
}

func TestParseMasterKey(t *testing.T) {
	t.Parallel()
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	h, _ := vault.ParseMasterKey(hex.EncodeToString(raw))
	b, err := vault.ParseMasterKey(" " + base64.StdEncoding.EncodeToString(raw) + "\n")
	if h == nil || err != nil || h.ID() != b.ID() || len(h.ID()) != 12 {
		t.Fatalf("hex and base64 of one key: %v %v %v", h, b, err)
	}
	if strings.Contains(hex.EncodeToString(raw), h.ID()) {
		t.Error("key id is part of the key")
	}
	for _, bad := range []string{"", "abc", hex.EncodeToString(raw[:31]), base64.StdEncoding.EncodeToString(raw[:16]), strings.Repeat("z", 64)} {
		_, err := vault.ParseMasterKey(bad)
		if err == nil {
			t.Errorf("ParseMasterKey(%q) accepted", bad)
		} else if bad != "" && strings.Contains(err.Error(), bad) {
			t.Errorf("error echoes the input: %v", err)
		}
	}
}

func TestGrantListRevoke(t *testing.T) {
	t.Parallel()
	b := setup(t)
	k, ks := newKey(t)
	v := vault.New(b.kv, k)
	const ck = "CANARYcustomer-key-0123456789wxyz"
	ent, err := v.Grant(b.ctx, "acme", "acme-user", ck)
	if err != nil {
		t.Fatal(err)
	}
	if ent.Hint != "wxyz" || ent.KeyID != k.ID() {
		t.Errorf("entry %+v", ent)
	}
	e, err := b.kv.Get(b.ctx, "account.acme")
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{ck, ks, base64.StdEncoding.EncodeToString([]byte(ck))} {
		if strings.Contains(string(e.Value()), secret) {
			t.Errorf("bucket value holds a secret in plain text: %s", e.Value())
		}
	}
	a, err := v.Get(b.ctx, "acme")
	if err != nil || a.CustomerKey != ck || a.Username != "acme-user" {
		t.Fatalf("Get = %+v, %v", a, err)
	}
	// List needs no master key.
	list, err := vault.New(b.kv, nil).List(b.ctx)
	if err != nil || len(list) != 1 || list[0].Name != "acme" || list[0].Hint != "wxyz" {
		t.Fatalf("List = %+v, %v", list, err)
	}
	// Re-grant replaces the key.
	if _, err := v.Grant(b.ctx, "acme", "acme-user", "second-key-abcdefgh"); err != nil {
		t.Fatal(err)
	}
	if a, _ := v.Get(b.ctx, "acme"); a.CustomerKey != "second-key-abcdefgh" {
		t.Errorf("after re-grant: %q", a.CustomerKey)
	}
	if err := v.Revoke(b.ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Get(b.ctx, "acme"); !errors.Is(err, vault.ErrNotFound) {
		t.Errorf("Get after revoke: %v", err)
	}
	if err := v.Revoke(b.ctx, "acme"); !errors.Is(err, vault.ErrNotFound) {
		t.Errorf("second revoke: %v", err)
	}
	if _, err := v.Grant(b.ctx, "a.b", "u", ck); !errors.Is(err, vault.ErrBadName) {
		t.Errorf("bad name: %v", err)
	}
	if _, err := vault.New(b.kv, nil).Grant(b.ctx, "x", "u", ck); !errors.Is(err, vault.ErrNoMasterKey) {
		t.Errorf("no master key: %v", err)
	}
}

func TestSealedForOneAccountOnly(t *testing.T) {
	t.Parallel()
	b := setup(t)
	k, _ := newKey(t)
	v := vault.New(b.kv, k)
	if _, err := v.Grant(b.ctx, "acme", "u", "customer-key-acme"); err != nil {
		t.Fatal(err)
	}
	e, _ := b.kv.Get(b.ctx, "account.acme")
	// The same record copied under another name does not open there.
	if _, err := b.kv.Put(b.ctx, "account.evil", e.Value()); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Get(b.ctx, "evil"); err == nil {
		t.Error("a record copied to another account opened")
	}
	other, _ := newKey(t)
	if _, err := vault.New(b.kv, other).Get(b.ctx, "acme"); !errors.Is(err, vault.ErrUnknownKeyID) {
		t.Errorf("another master key: %v", err)
	}
}

func TestClaim(t *testing.T) {
	t.Parallel()
	b := setup(t)
	v := vault.New(b.kv, nil)
	if err := v.Claim(b.ctx, "tok_1", "acme", time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := v.Claim(b.ctx, "tok_1", "acme", time.Hour); !errors.Is(err, vault.ErrUsed) {
		t.Fatalf("second claim: %v", err)
	}
	if err := v.Release(b.ctx, "tok_1"); err != nil {
		t.Fatal(err)
	}
	if err := v.Claim(b.ctx, "tok_1", "acme", time.Hour); err != nil {
		t.Fatalf("claim after release: %v", err)
	}
	if err := v.Claim(b.ctx, "bad.id", "acme", time.Hour); err == nil {
		t.Error("bad token id accepted")
	}
}

func TestRotate(t *testing.T) {
	t.Parallel()
	b := setup(t)
	old, _ := newKey(t)
	if _, err := vault.New(b.kv, old).Grant(b.ctx, "acme", "u", "customer-key-acme"); err != nil {
		t.Fatal(err)
	}
	cur, _ := newKey(t)
	v := vault.New(b.kv, cur, old)
	if _, err := v.Grant(b.ctx, "beta", "u", "customer-key-beta"); err != nil {
		t.Fatal(err)
	}
	if a, err := v.Get(b.ctx, "acme"); err != nil || a.CustomerKey != "customer-key-acme" {
		t.Fatalf("previous key does not open: %+v %v", a, err)
	}
	r, err := v.Rotate(b.ctx)
	if err != nil || r.Resealed != 1 || r.Current != 1 {
		t.Fatalf("Rotate = %+v, %v", r, err)
	}
	// Now the current key alone opens everything.
	only := vault.New(b.kv, cur)
	for _, n := range []string{"acme", "beta"} {
		a, err := only.Get(b.ctx, n)
		if err != nil || a.CustomerKey != "customer-key-"+n || a.KeyID != cur.ID() {
			t.Errorf("%s after rotate: %+v %v", n, a, err)
		}
	}
	if r, err := only.Rotate(b.ctx); err != nil || r.Resealed != 0 || r.Current != 2 {
		t.Errorf("second Rotate = %+v, %v", r, err)
	}
	if _, err := vault.New(b.kv, old).Rotate(b.ctx); !errors.Is(err, vault.ErrUnknownKeyID) {
		t.Errorf("rotate with a key that opens nothing: %v", err)
	}
}

func TestWatch(t *testing.T) {
	t.Parallel()
	b := setup(t)
	k, _ := newKey(t)
	v := vault.New(b.kv, k)
	if _, err := v.Grant(b.ctx, "before", "u", "customer-key-before"); err != nil {
		t.Fatal(err)
	}
	changes := make(chan vault.Change, 16)
	ready := make(chan struct{})
	ctx, cancel := context.WithCancel(b.ctx)
	done := make(chan error, 1)
	go func() { done <- v.Watch(ctx, func(c vault.Change) { changes <- c }, func() { close(ready) }) }()
	next := func(what string) vault.Change {
		t.Helper()
		select {
		case c := <-changes:
			return c
		case <-time.After(10 * time.Second):
			t.Fatalf("no change for %s within 10s", what)
		}
		return vault.Change{}
	}
	if c := next("initial"); c.Name != "before" || c.Account == nil || c.Account.CustomerKey != "customer-key-before" {
		t.Errorf("initial change %+v", c)
	}
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatal("ready not called")
	}
	if _, err := v.Grant(b.ctx, "later", "u2", "customer-key-later"); err != nil {
		t.Fatal(err)
	}
	if c := next("grant"); c.Name != "later" || c.Account == nil || c.Account.Username != "u2" {
		t.Errorf("grant change %+v", c)
	}
	if err := v.Revoke(b.ctx, "later"); err != nil {
		t.Fatal(err)
	}
	if c := next("revoke"); c.Name != "later" || c.Account != nil || c.Err != nil {
		t.Errorf("revoke change %+v", c)
	}
	// Claims are not accounts.
	_ = v.Claim(b.ctx, "tok", "x", time.Hour)
	if _, err := b.kv.Put(b.ctx, "account.junk", []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	if c := next("junk"); c.Name != "junk" || c.Err == nil {
		t.Errorf("junk change %+v", c)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Watch: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Watch did not return after cancel")
	}
}
