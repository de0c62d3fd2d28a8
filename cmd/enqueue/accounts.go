package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"crmsync/internal/account"
	"crmsync/internal/config"
	"crmsync/internal/onboarding"
	"crmsync/internal/vault"
)

const accountsUsage = `accounts invite -account NAME -username KLICKTIPP_USERNAME [-expires 168h] | list | revoke NAME | rotate-master-key`

// maxInviteLife bounds -expires.
const maxInviteLife = 90 * 24 * time.Hour

// accounts runs the `enqueue accounts` commands: KlickTipp partner
// onboarding (invites) and the granted accounts in CRMSYNC_ACCOUNTS.
func (m *Main) accounts(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return fail(exitUsage, "accounts: give %s", accountsUsage)
	}
	fs := flag.NewFlagSet("enqueue accounts "+args[0], flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	name := fs.String("account", "", "invite: the crmsync account name jobs will use ([A-Za-z0-9_-]{1,64})")
	user := fs.String("username", "", "invite: the customer's KlickTipp username (sent as X-Un)")
	expires := fs.Duration("expires", 168*time.Hour, "invite: how long the link works (at most 2160h)")
	pos, err := parse(fs, args[1:])
	if err != nil {
		return fail(exitUsage, "")
	}
	cfg, err := m.loadConfig()
	if err != nil {
		return err
	}
	switch args[0] {
	case "invite":
		if len(pos) > 0 {
			return fail(exitUsage, "accounts invite takes no arguments, only -account and -username")
		}
		return m.invite(cfg, *name, *user, *expires)
	case "list":
		if len(pos) > 0 {
			return fail(exitUsage, "accounts list takes no arguments")
		}
		return m.listAccounts(ctx, cfg)
	case "revoke":
		if len(pos) != 1 {
			return fail(exitUsage, "accounts revoke: give one account NAME")
		}
		return m.revoke(ctx, cfg, pos[0])
	case "rotate-master-key":
		if len(pos) > 0 {
			return fail(exitUsage, "accounts rotate-master-key takes no arguments")
		}
		return m.rotate(ctx, cfg)
	}
	return fail(exitUsage, "accounts: unknown command %q (%s)", args[0], accountsUsage)
}

// invite prints the grant link for one customer.
func (m *Main) invite(cfg *config.Config, name, user string, life time.Duration) error {
	if name == "" || user == "" {
		return fail(exitUsage, "accounts invite: -account and -username are required")
	}
	if life <= 0 || life > maxInviteLife {
		return fail(exitUsage, "accounts invite: -expires must be between 1s and %s, got %s", maxInviteLife, life)
	}
	if err := cfg.CheckInvite(); err != nil {
		return err
	}
	if static, err := staticAccounts(cfg); err != nil {
		return err
	} else if _, dup := static[name]; dup {
		return fail(exitUsage, "accounts invite: account %q is already defined by %s; pick another name", name, static[name].source)
	}
	signer, err := onboarding.NewSigner(cfg.OnboardingSecret)
	if err != nil {
		return &config.Error{Var: "ONBOARDING_SECRET", Reason: err.Error()}
	}
	inv, err := onboarding.NewInvite(name, user, m.Now().Add(life))
	if err != nil {
		return fail(exitUsage, "accounts invite: %v", err)
	}
	link := onboarding.Link(cfg.KlickTippAppURL, cfg.KlickTippPartnerAccountID, cfg.OnboardingPublicURL, signer.Sign(inv))
	fmt.Fprintln(m.Stdout, link)
	fmt.Fprintf(m.Stderr, "enqueue: send this link to the owner of KlickTipp user %q; it works once, until %s, and grants account %q\n",
		inv.Username, inv.Expires.UTC().Format(time.RFC3339), name)
	return nil
}

// staticAccount is an account from the environment or ACCOUNTS_FILE.
type staticAccount struct {
	profile account.Profile
	source  string // "env" or "file"
}

// staticAccounts reads the accounts enqueue's own environment defines, as
// the worker would.
func staticAccounts(cfg *config.Config) (map[string]staticAccount, error) {
	out := map[string]staticAccount{}
	if cfg.AccountsFile != "" {
		ps, err := account.LoadFile(cfg.AccountsFile)
		if err != nil {
			return nil, &config.Error{Var: "ACCOUNTS_FILE", Reason: err.Error()}
		}
		for n, p := range ps {
			out[n] = staticAccount{profile: p, source: "file"}
		}
	}
	var def account.Profile
	if cfg.KlickTippUsername != "" {
		def.KlickTipp = &account.KlickTipp{Username: cfg.KlickTippUsername, Password: cfg.KlickTippPassword, CustomerKey: cfg.KlickTippCustomerKey}
		if cfg.KlickTippCustomerKey != "" {
			def.KlickTipp.DeveloperKey = cfg.KlickTippDeveloperKey
		}
	}
	if cfg.KlipyAPIKey != "" {
		def.Klipy = &account.Klipy{}
	}
	if cfg.ClickyIDAPIKey != "" {
		def.ClickyID = &account.ClickyID{}
	}
	if def.KlickTipp != nil || def.Klipy != nil || def.ClickyID != nil {
		out["default"] = staticAccount{profile: def, source: "env"}
	}
	return out, nil
}

// bucket opens CRMSYNC_ACCOUNTS; nil, nil when no worker created it yet.
func bucket(ctx context.Context, c *conn) (jetstream.KeyValue, error) {
	kv, err := c.js.KeyValue(ctx, vault.Bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fail(exitNATS, "open KV bucket %s: %v", vault.Bucket, err)
	}
	return kv, nil
}

// listAccounts prints every account jobs can name: those of enqueue's
// environment and ACCOUNTS_FILE (run it with the worker's), and those
// granted through onboarding. Keys show their last four characters at most.
func (m *Main) listAccounts(ctx context.Context, cfg *config.Config) error {
	static, err := staticAccounts(cfg)
	if err != nil {
		return err
	}
	c, err := m.connect(ctx, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	kv, err := bucket(ctx, c)
	if err != nil {
		return err
	}
	var granted []vault.Entry
	if kv != nil {
		if granted, err = vault.New(kv, nil).List(ctx); err != nil {
			return fail(exitNATS, "%v", err)
		}
	}
	type row struct{ name, user, mode, source, at, key string }
	var rows []row
	for n, s := range static {
		r := row{n, "-", "-", s.source, "-", "-"}
		if k := s.profile.KlickTipp; k != nil {
			r.user, r.mode = k.Username, "session"
			if k.CustomerKey != "" && k.DeveloperKey != "" {
				r.mode, r.key = "partner", "…"+lastFour(k.CustomerKey)
			}
		}
		rows = append(rows, r)
	}
	for _, e := range granted {
		src := "onboarding"
		if _, dup := static[e.Name]; dup {
			src += " (ignored: also " + static[e.Name].source + ")"
		}
		rows = append(rows, row{e.Name, e.Username, "partner", src, e.GrantedAt.UTC().Format(time.RFC3339), "…" + e.Hint})
	}
	sort.Slice(rows, func(i, j int) bool {
		return rows[i].name < rows[j].name || rows[i].name == rows[j].name && rows[i].source < rows[j].source
	})
	tw := tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tUSERNAME\tMODE\tSOURCE\tGRANTED\tKEY")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.name, r.user, r.mode, r.source, r.at, r.key)
	}
	return tw.Flush()
}

// lastFour is at most the last four characters of a key, and at most half
// of a short one.
func lastFour(key string) string {
	n := min(4, len(key)/2)
	return key[len(key)-n:]
}

// revoke deletes a granted account on every replica.
func (m *Main) revoke(ctx context.Context, cfg *config.Config, name string) error {
	if !vault.ValidName(name) {
		return fail(exitUsage, "accounts revoke: %q is not an account name", name)
	}
	c, err := m.connect(ctx, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	kv, err := bucket(ctx, c)
	if err != nil {
		return err
	}
	if kv == nil {
		return fail(exitRejects, "accounts revoke: account %q was not granted through onboarding (no bucket %s yet)", name, vault.Bucket)
	}
	if err := vault.New(kv, nil).Revoke(ctx, name); err != nil {
		if errors.Is(err, vault.ErrNotFound) {
			return fail(exitRejects, "accounts revoke: account %q was not granted through onboarding (accounts of the environment or ACCOUNTS_FILE are removed there)", name)
		}
		return fail(exitNATS, "accounts revoke: %v", err)
	}
	fmt.Fprintf(m.Stdout, "revoked %s: every replica drops it within a second; its next job is dead-lettered\n", name)
	return nil
}

// rotate re-seals every granted key under ACCOUNTS_MASTER_KEY, opening the
// old ones with ACCOUNTS_MASTER_KEY_PREVIOUS.
func (m *Main) rotate(ctx context.Context, cfg *config.Config) error {
	if cfg.AccountsMasterKey == "" {
		return &config.Error{Var: "ACCOUNTS_MASTER_KEY", Reason: "required: the new master key (the old one goes in ACCOUNTS_MASTER_KEY_PREVIOUS)"}
	}
	cur, err := vault.ParseMasterKey(cfg.AccountsMasterKey)
	if err != nil {
		return &config.Error{Var: "ACCOUNTS_MASTER_KEY", Reason: err.Error()}
	}
	var prev *vault.MasterKey
	if cfg.AccountsMasterKeyPrevious != "" {
		if prev, err = vault.ParseMasterKey(cfg.AccountsMasterKeyPrevious); err != nil {
			return &config.Error{Var: "ACCOUNTS_MASTER_KEY_PREVIOUS", Reason: err.Error()}
		}
	}
	c, err := m.connect(ctx, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	kv, err := bucket(ctx, c)
	if err != nil {
		return err
	}
	if kv == nil {
		fmt.Fprintln(m.Stdout, "no accounts granted yet: nothing to rotate")
		return nil
	}
	r, err := vault.New(kv, cur, prev).Rotate(ctx)
	if err != nil {
		msg := err.Error()
		if errors.Is(err, vault.ErrUnknownKeyID) {
			msg += " (set ACCOUNTS_MASTER_KEY_PREVIOUS to the key that sealed it)"
		}
		return fail(exitRejects, "accounts rotate-master-key: %s; %d re-sealed before it", strings.TrimPrefix(msg, "vault: "), r.Resealed)
	}
	fmt.Fprintf(m.Stdout, "re-sealed %d account(s) under master key %s; %d already were; ACCOUNTS_MASTER_KEY_PREVIOUS can now be removed\n", r.Resealed, cur.ID(), r.Current)
	return nil
}
