package vault

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
)

// MasterKeySize is the length of a master key in bytes.
const MasterKeySize = 32

// MasterKey seals and opens Customer Keys. Its ID names it in records
// without revealing it. It is safe for concurrent use.
type MasterKey struct {
	id   string
	aead cipher.AEAD
}

// ParseMasterKey reads a master key: 32 bytes as 64 hex characters or as
// standard base64 (surrounding space trimmed). The error never contains
// the input.
func ParseMasterKey(s string) (*MasterKey, error) {
	s = strings.TrimSpace(s)
	var raw []byte
	if len(s) == 2*MasterKeySize {
		raw, _ = hex.DecodeString(s)
	}
	if raw == nil {
		if b, err := base64.StdEncoding.DecodeString(s); err == nil {
			raw = b
		}
	}
	if len(raw) != MasterKeySize {
		return nil, errors.New("must be 32 random bytes as 64 hex characters or standard base64 (openssl rand -hex 32)")
	}
	return newMasterKey(raw)
}

func newMasterKey(raw []byte) (*MasterKey, error) {
	block, err := aes.NewCipher(raw)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	mac := hmac.New(sha256.New, raw)
	mac.Write([]byte("crmsync accounts master key id"))
	return &MasterKey{id: hex.EncodeToString(mac.Sum(nil)[:6]), aead: aead}, nil
}

// ID is the key's id: 12 hex characters derived from the key by HMAC.
func (k *MasterKey) ID() string { return k.id }

// String returns the id only, so a key printed by mistake reveals nothing.
func (k *MasterKey) String() string { return "master key " + k.id }
