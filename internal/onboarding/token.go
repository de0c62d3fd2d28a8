package onboarding

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"crmsync/internal/vault"
)

// MinSecretLen is the shortest ONBOARDING_SECRET accepted.
const MinSecretLen = 32

var (
	// ErrTampered: the token is malformed or its signature does not match
	// (changed, or signed with another secret).
	ErrTampered = errors.New("invite link is not valid (changed or not issued by this installation)")
	// ErrExpired: the token's expiry has passed.
	ErrExpired = errors.New("invite link has expired")
)

// Invite is what a token says.
type Invite struct {
	ID       string    // random, unique per invite; marks it used
	Account  string    // crmsync account name the key is stored under
	Username string    // KlickTipp username (X-Un)
	Expires  time.Time // the token is refused from then on
}

// payload is the signed JSON inside a token.
type payload struct {
	ID       string `json:"n"`
	Account  string `json:"a"`
	Username string `json:"u"`
	Expires  int64  `json:"e"`
}

// Signer issues and checks invite tokens. It is safe for concurrent use.
type Signer struct {
	secret []byte
}

// NewSigner returns a Signer keyed by secret (ONBOARDING_SECRET), which
// must be at least MinSecretLen characters. The error never holds it.
func NewSigner(secret string) (*Signer, error) {
	if len(secret) < MinSecretLen {
		return nil, fmt.Errorf("must be at least %d characters (openssl rand -hex 32)", MinSecretLen)
	}
	return &Signer{secret: []byte(secret)}, nil
}

// NewInvite returns an invite for account and username expiring at expires,
// with a fresh random ID.
func NewInvite(account, username string, expires time.Time) (Invite, error) {
	if !vault.ValidName(account) {
		return Invite{}, fmt.Errorf("account %q: must be 1-64 letters, digits, '_' or '-'", account)
	}
	username = strings.TrimSpace(username)
	if username == "" || len(username) > 256 || strings.ContainsAny(username, "\r\n") {
		return Invite{}, errors.New("username must be a KlickTipp username (1-256 characters, one line)")
	}
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return Invite{}, err
	}
	return Invite{ID: base64.RawURLEncoding.EncodeToString(b), Account: account, Username: username, Expires: expires.UTC().Truncate(time.Second)}, nil
}

// Sign returns inv as a token: base64url(payload) "." base64url(HMAC).
// Every character is URL-path safe.
func (s *Signer) Sign(inv Invite) string {
	b, _ := json.Marshal(payload{ID: inv.ID, Account: inv.Account, Username: inv.Username, Expires: inv.Expires.Unix()})
	p := base64.RawURLEncoding.EncodeToString(b)
	return p + "." + base64.RawURLEncoding.EncodeToString(s.mac(p))
}

func (s *Signer) mac(p string) []byte {
	m := hmac.New(sha256.New, s.secret)
	m.Write([]byte("crmsync invite v1."))
	m.Write([]byte(p))
	return m.Sum(nil)
}

// maxToken bounds what Verify reads.
const maxToken = 1024

// Verify checks token's signature and expiry at now and returns its
// invite; ErrTampered or ErrExpired otherwise.
func (s *Signer) Verify(token string, now time.Time) (Invite, error) {
	if len(token) > maxToken {
		return Invite{}, ErrTampered
	}
	p, sig, ok := strings.Cut(token, ".")
	if !ok {
		return Invite{}, ErrTampered
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, s.mac(p)) {
		return Invite{}, ErrTampered
	}
	b, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		return Invite{}, ErrTampered
	}
	var pl payload
	if err := json.Unmarshal(b, &pl); err != nil || pl.ID == "" || !vault.ValidName(pl.Account) || pl.Username == "" {
		return Invite{}, ErrTampered
	}
	inv := Invite{ID: pl.ID, Account: pl.Account, Username: pl.Username, Expires: time.Unix(pl.Expires, 0).UTC()}
	if !now.Before(inv.Expires) {
		return inv, ErrExpired
	}
	return inv, nil
}
