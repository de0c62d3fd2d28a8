package vault

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"regexp"
	"time"
)

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ValidName reports whether name is a valid account name.
func ValidName(name string) bool { return nameRE.MatchString(name) }

// Entry is what the bucket says about one granted account, without the key.
type Entry struct {
	Name      string
	Username  string
	GrantedAt time.Time
	// Hint is the Customer Key's last four characters.
	Hint string
	// KeyID is the id of the master key the Customer Key is sealed under.
	KeyID    string
	Revision uint64
}

// Account is a granted account with its Customer Key opened.
type Account struct {
	Entry
	CustomerKey string
}

// record is the JSON value of account.<name>.
type record struct {
	V         int       `json:"v"`
	Username  string    `json:"username"`
	GrantedAt time.Time `json:"grantedAt"`
	Hint      string    `json:"keyHint"`
	KeyID     string    `json:"keyId"`
	Nonce     []byte    `json:"nonce"`
	Sealed    []byte    `json:"sealed"`
}

func aad(name string) []byte { return []byte("crmsync account " + name) }

// seal encrypts customerKey for account name under k.
func seal(k *MasterKey, name, username, customerKey string, at time.Time) ([]byte, error) {
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	r := record{V: 1, Username: username, GrantedAt: at.UTC(), Hint: hint(customerKey), KeyID: k.id, Nonce: nonce,
		Sealed: k.aead.Seal(nil, nonce, []byte(customerKey), aad(name))}
	return json.Marshal(r)
}

// hint is the last four characters of a key (fewer for a shorter key: at
// most half of it).
func hint(key string) string {
	n := min(4, len(key)/2)
	return key[len(key)-n:]
}

func decode(name string, value []byte, rev uint64) (record, Entry, error) {
	var r record
	if err := json.Unmarshal(value, &r); err != nil {
		return r, Entry{}, fmt.Errorf("vault: account %q: record is not valid JSON", name)
	}
	return r, Entry{Name: name, Username: r.Username, GrantedAt: r.GrantedAt, Hint: r.Hint, KeyID: r.KeyID, Revision: rev}, nil
}

// open decrypts a record with whichever of keys sealed it.
func open(keys []*MasterKey, name string, r record) (string, error) {
	for _, k := range keys {
		if k == nil || k.id != r.KeyID {
			continue
		}
		pt, err := k.aead.Open(nil, r.Nonce, r.Sealed, aad(name))
		if err != nil {
			return "", fmt.Errorf("vault: account %q: cannot open the customer key sealed under master key %s (tampered, or sealed for another account)", name, r.KeyID)
		}
		return string(pt), nil
	}
	if len(keys) == 0 {
		return "", ErrNoMasterKey
	}
	return "", fmt.Errorf("vault: account %q: %w %s", name, ErrUnknownKeyID, r.KeyID)
}
