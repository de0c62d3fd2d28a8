// Package vault keeps the KlickTipp accounts granted through partner
// onboarding in the JetStream KV bucket CRMSYNC_ACCOUNTS, their Customer Keys
// sealed with AES-256-GCM under a master key (ACCOUNTS_MASTER_KEY), the
// account name as associated data.
//
// Keys in the bucket:
//
//	account.<name>   one granted account: username, granted-at, the key's
//	                 last four characters, the master key id, nonce and
//	                 ciphertext (JSON; never the key in plain text)
//	token.<id>       an invite token that was used (its value is the
//	                 account it granted); kept until the token expires
//
// Every replica watches account.> (Watch) so a grant or a revoke takes
// effect everywhere within a moment, without a restart. A master key has an
// id (derived from the key, not revealing it), stored with each record, so
// Rotate can re-seal every record under a new key while the old one still
// opens what it sealed. A Vault is safe for concurrent use.
package vault
