package broker

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// TokenFile is the file inside an embedded server's store dir that holds
// its generated client token (mode 0600).
const TokenFile = "auth.token"

// UseFile is the file inside an embedded server's store dir that records
// who last ran the server on it ("worker" or "sandbox").
const UseFile = "crmsync.use"

// StoreToken returns the token kept in <storeDir>/auth.token, generating
// it (32 random bytes as 64 hex characters, written 0600 without
// overwriting) the first time. A token file readable by group or others is
// refused: the token is the embedded server's only lock.
func StoreToken(storeDir string) (string, error) {
	tok, err := ReadStoreToken(storeDir)
	if !errors.Is(err, fs.ErrNotExist) {
		return tok, err
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("embedded nats: generating a token: %w", err)
	}
	tok = hex.EncodeToString(b)
	path := filepath.Join(storeDir, TokenFile)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return ReadStoreToken(storeDir) // another process generated it first
	}
	if err != nil {
		return "", fmt.Errorf("embedded nats: writing the token: %w", err)
	}
	if _, err := f.WriteString(tok + "\n"); err != nil {
		f.Close()
		return "", fmt.Errorf("embedded nats: writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("embedded nats: writing %s: %w", path, err)
	}
	return tok, nil
}

// ReadStoreToken reads the token in <storeDir>/auth.token, for clients of
// the embedded server (enqueue). The error wraps fs.ErrNotExist when there
// is none; it names the file and never holds the token.
func ReadStoreToken(storeDir string) (string, error) {
	path := filepath.Join(storeDir, TokenFile)
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("embedded nats: no token in %s: %w", path, fs.ErrNotExist)
		}
		return "", fmt.Errorf("embedded nats: token %s: %w", path, errors.Unwrap(err))
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("embedded nats: token %s is readable by others (mode %04o): chmod 600 it", path, fi.Mode().Perm())
	}
	if fi.Size() > 4096 {
		return "", fmt.Errorf("embedded nats: token %s is larger than 4 KiB", path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("embedded nats: token %s: %w", path, errors.Unwrap(err))
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("embedded nats: token %s is empty", path)
	}
	return tok, nil
}

// StoreUseError says a store dir was last used by someone else: a real
// worker on a sandbox's store, or the reverse. The two must never share
// jobs, results or dead letters.
type StoreUseError struct {
	StoreDir string
	Was      string // who used it last
	Want     string // who wanted it now
}

func (e *StoreUseError) Error() string {
	return fmt.Sprintf("%s was last used by the %s; the %s never shares its store (jobs, results, dead letters) with the %s: use another EMBEDDED_NATS_STORE, or delete %s if its contents are not needed",
		e.StoreDir, describe(e.Was), describe(e.Want), describe(e.Was), e.StoreDir)
}

func describe(use string) string {
	if use == "sandbox" {
		return "sandbox (worker -sandbox)"
	}
	return "real " + use
}

// claimStore records use in <storeDir>/crmsync.use, refusing a store last
// used by another. A store without the file (new, or from before the
// marker existed) is claimed as it is.
func claimStore(storeDir, use string) error {
	path := filepath.Join(storeDir, UseFile)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		if was := strings.TrimSpace(string(b)); was != use {
			return &StoreUseError{StoreDir: storeDir, Was: was, Want: use}
		}
		return nil
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("embedded nats: %s: %w", path, errors.Unwrap(err))
	}
	if err := os.WriteFile(path, []byte(use+"\n"), 0o640); err != nil {
		return fmt.Errorf("embedded nats: marking the store: %w", err)
	}
	return nil
}
