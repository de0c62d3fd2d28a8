package console

import "context"

// Account is what the console shows of one account and API: never a
// credential.
type Account struct {
	Name   string
	API    string // klicktipp, klipy or clickyid
	Mode   string // e.g. "partner (developer + customer key)", "session (username + password)", "API key"
	Source string // e.g. "environment", "ACCOUNTS_FILE", "sandbox", "CRMSYNC_ACCOUNTS"
	// Status is "" for a configured account, or what onboarding says
	// ("granted", "invited", "revoked").
	Status  string
	Detail  string // a non-secret note: the KlickTipp username, an invite's expiry
	Revoke  bool   // a Revoker can revoke it
	Created string // when granted or invited, as text; may be empty
}

// AccountLister lists the accounts. Implementations must never put a
// secret into an Account.
type AccountLister interface {
	Accounts(ctx context.Context) ([]Account, error)
}

// AccountsFunc adapts a function to AccountLister.
type AccountsFunc func(ctx context.Context) ([]Account, error)

// Accounts calls f.
func (f AccountsFunc) Accounts(ctx context.Context) ([]Account, error) { return f(ctx) }

// Revoker revokes an onboarded account by name (the onboarding store).
type Revoker interface {
	Revoke(ctx context.Context, name string) error
}
