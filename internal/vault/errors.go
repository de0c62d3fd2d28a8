package vault

import "errors"

var (
	// ErrNotFound: no account of that name was granted.
	ErrNotFound = errors.New("vault: account not granted")
	// ErrUsed: an invite token was claimed before (Claim).
	ErrUsed = errors.New("vault: invite already used")
	// ErrNoMasterKey: an operation needs ACCOUNTS_MASTER_KEY and the Vault
	// was opened without one.
	ErrNoMasterKey = errors.New("vault: no master key (ACCOUNTS_MASTER_KEY)")
	// ErrUnknownKeyID: a record is sealed under a master key this Vault was
	// not given.
	ErrUnknownKeyID = errors.New("vault: sealed under an unknown master key")
	// ErrBadName: an account name outside [A-Za-z0-9_-]{1,64}.
	ErrBadName = errors.New("vault: account name must be 1-64 letters, digits, '_' or '-'")
)
