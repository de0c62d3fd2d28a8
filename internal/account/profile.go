// Package account holds the credential profiles jobs name in their
// "account" field: "default", built from the environment, and any number
// more from ACCOUNTS_FILE. It builds one client per account and API (each
// waiting on the limiter of its credential) and routes each job to the
// handler for its kind and target.
package account

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// Profile is one account's credentials. A nil section means the account
// has no credentials for that API; its jobs are dead-lettered.
type Profile struct {
	KlickTipp *KlickTipp `json:"klicktipp,omitempty"`
	Klipy     *Klipy     `json:"klipy,omitempty"`
	ClickyID  *ClickyID  `json:"clickyid,omitempty"`
}

// KlickTipp credentials: Username+Password (session mode) or
// Username+DeveloperKey+CustomerKey (partner mode, preferred when set).
// Rate and Burst default to KLICKTIPP_RATE and KLICKTIPP_BURST.
type KlickTipp struct {
	BaseURL      string  `json:"baseUrl,omitempty"`
	Username     string  `json:"username"`
	Password     string  `json:"password,omitempty"`
	PasswordFile string  `json:"passwordFile,omitempty"`
	DeveloperKey string  `json:"developerKey,omitempty"`
	DevKeyFile   string  `json:"developerKeyFile,omitempty"`
	CustomerKey  string  `json:"customerKey,omitempty"`
	CustKeyFile  string  `json:"customerKeyFile,omitempty"`
	CreateTags   *bool   `json:"createTags,omitempty"` // default true
	Rate         float64 `json:"rate,omitempty"`
	Burst        int     `json:"burst,omitempty"`
}

// Klipy credentials. Organization, when set, names the Klipy organisation
// the key belongs to: every profile naming the same one shares its budget
// (KLIPY_ORG_PER_MINUTE) beside each key's own (Rate, Burst).
type Klipy struct {
	BaseURL      string  `json:"baseUrl,omitempty"`
	APIKey       string  `json:"apiKey,omitempty"`
	APIKeyFile   string  `json:"apiKeyFile,omitempty"`
	Organization string  `json:"organization,omitempty"`
	Rate         float64 `json:"rate,omitempty"`
	Burst        int     `json:"burst,omitempty"`
}

// ClickyID credentials.
type ClickyID struct {
	BaseURL    string  `json:"baseUrl,omitempty"`
	APIKey     string  `json:"apiKey,omitempty"`
	APIKeyFile string  `json:"apiKeyFile,omitempty"`
	Rate       float64 `json:"rate,omitempty"`
	Burst      int     `json:"burst,omitempty"`
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// LoadFile reads ACCOUNTS_FILE: a JSON object of account name → Profile.
// Secrets may be given inline or as files (passwordFile, apiKeyFile, ...).
// Errors name the file and the account but never a secret.
func LoadFile(path string) (map[string]Profile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("cannot read %s: %v", path, err)
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	var m map[string]Profile
	if err := dec.Decode(&m); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("%s is not valid JSON (at byte %d)", path, se.Offset)
		}
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	if dup := duplicateName(b); dup != "" {
		return nil, fmt.Errorf("%s: account %q is defined twice", path, dup)
	}
	for name, p := range m {
		if !nameRE.MatchString(name) {
			return nil, fmt.Errorf("%s: account name %q must be 1-64 letters, digits, '.', '_' or '-'", path, name)
		}
		if err := p.readSecretFiles(); err != nil {
			return nil, fmt.Errorf("%s: account %q: %v", path, name, err)
		}
		if err := p.check(); err != nil {
			return nil, fmt.Errorf("%s: account %q: %v", path, name, err)
		}
		m[name] = p
	}
	return m, nil
}

func (p *Profile) readSecretFiles() error {
	read := func(dst *string, path, what string) error {
		if path == "" {
			return nil
		}
		if *dst != "" {
			return fmt.Errorf("%s is given both inline and as a file", what)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("%sFile %s cannot be read", what, path)
		}
		*dst = strings.TrimRight(string(b), "\r\n")
		return nil
	}
	if k := p.KlickTipp; k != nil {
		// The first fault only: an error is one line.
		for _, f := range []struct {
			dst        *string
			path, what string
		}{{&k.Password, k.PasswordFile, "klicktipp.password"}, {&k.DeveloperKey, k.DevKeyFile, "klicktipp.developerKey"}, {&k.CustomerKey, k.CustKeyFile, "klicktipp.customerKey"}} {
			if err := read(f.dst, f.path, f.what); err != nil {
				return err
			}
		}
	}
	if k := p.Klipy; k != nil {
		if err := read(&k.APIKey, k.APIKeyFile, "klipy.apiKey"); err != nil {
			return err
		}
	}
	if k := p.ClickyID; k != nil {
		if err := read(&k.APIKey, k.APIKeyFile, "clickyid.apiKey"); err != nil {
			return err
		}
	}
	return nil
}

func (p *Profile) check() error {
	if k := p.KlickTipp; k != nil {
		if k.Username == "" {
			return errors.New("klicktipp.username is required")
		}
		if k.Password == "" && (k.DeveloperKey == "" || k.CustomerKey == "") {
			return errors.New("klicktipp needs password, or developerKey and customerKey")
		}
	}
	if k := p.Klipy; k != nil && k.APIKey == "" {
		return errors.New("klipy.apiKey is required")
	}
	if k := p.ClickyID; k != nil && k.APIKey == "" {
		return errors.New("clickyid.apiKey is required")
	}
	return nil
}
