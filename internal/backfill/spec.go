package backfill

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"crmsync/internal/jobs"
)

// Spec says what jobs to build from the rows. Validate it before use.
type Spec struct {
	Kind    jobs.Kind // contact.upsert or email.validate
	Target  string    // contact.upsert: klicktipp or klipy
	Account string    // credentials profile; default "default"

	// contact.upsert, KlickTipp only: the opt-in list and the tags (ids or
	// names) given to every contact.
	ListID int64
	Tags   []string
	// Map maps a CSV column (case-insensitive) to a key: a KlickTipp field
	// key, email, tags, listid, or "-" to drop the column; for Klipy any
	// person key; for email.validate only email (or "-"). It overrides the
	// defaults (see DefaultColumns).
	Map map[string]string

	// email.validate.
	TargetGroupIDs []string
	OfferIDs       []string
	Mode           string // any or all; default any

	// Batch is the most items per job; default 200 for contacts and 1,000
	// for emails, capped at MaxItems.
	Batch int
	// MaxItems and MaxBytes are the worker's limits on a job
	// (WORKER_MAX_JOB_ITEMS, WORKER_MAX_JOB_BYTES); defaults 10,000 and
	// 1 MiB. No job built exceeds them. Set MaxBytes no higher than the
	// server's max_payload less HeaderAllowance.
	MaxItems int
	MaxBytes int
}

// HeaderAllowance is the room a job message leaves for its headers below
// the NATS server's max_payload, which counts headers as well as the body.
const HeaderAllowance = 4 << 10

// WithDefaults returns s with its zero fields set to their defaults.
func (s Spec) WithDefaults() Spec {
	if s.Account == "" {
		s.Account = jobs.DefaultAccount
	}
	if s.MaxItems <= 0 {
		s.MaxItems = 10000
	}
	if s.MaxBytes <= 0 {
		s.MaxBytes = 1 << 20
	}
	if s.Batch <= 0 {
		s.Batch = 200
		if s.Kind == jobs.KindEmailValidate {
			s.Batch = 1000
		}
	}
	s.Batch = min(s.Batch, s.MaxItems)
	if s.Kind == jobs.KindEmailValidate && s.Mode == "" {
		s.Mode = "any"
	}
	return s
}

// UsageError is a problem with the flags or the input as a whole (not one
// row): the command exits 2.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

func usagef(format string, a ...any) error { return &UsageError{Msg: fmt.Sprintf(format, a...)} }

var fieldKey = regexp.MustCompile(`^field[A-Za-z0-9_]+$`)

// Validate reports the first problem with s as a *UsageError.
func (s Spec) Validate() error {
	switch s.Kind {
	case jobs.KindContactUpsert:
		if s.Target != jobs.TargetKlickTipp && s.Target != jobs.TargetKlipy {
			return usagef("-target %q: want klicktipp or klipy", s.Target)
		}
		if s.Target == jobs.TargetKlipy && (s.ListID != 0 || len(s.Tags) > 0) {
			return usagef("-list and -tags are KlickTipp options; Klipy has no lists or tags")
		}
		if s.ListID < 0 {
			return usagef("-list %d: want a positive list id", s.ListID)
		}
		for _, t := range s.Tags {
			if strings.TrimSpace(t) == "" {
				return usagef("-tags: empty tag name")
			}
		}
		for col, key := range s.Map {
			if col == "" || key == "" {
				return usagef("-map %s=%s: want column=key", col, key)
			}
			if s.Target == jobs.TargetKlickTipp && !slices.Contains([]string{"email", "tags", "listid", "-"}, key) && !fieldKey.MatchString(key) {
				return usagef("-map %s=%s: %q is not a KlickTipp field key (fieldFirstName, field12345, ...), email, tags, listid or -", col, key, key)
			}
		}
	case jobs.KindEmailValidate:
		if s.Mode != "" && s.Mode != "any" && s.Mode != "all" {
			return usagef("-mode %q: want any or all", s.Mode)
		}
		for col, key := range s.Map {
			if col == "" || (key != "email" && key != "-") {
				return usagef("-map %s=%s: validate uses only the email column; name it with -map COLUMN=email", col, key)
			}
		}
		if len(s.TargetGroupIDs) == 0 && len(s.OfferIDs) == 0 {
			return usagef("give -target-groups or -offers (or both)")
		}
	default:
		return usagef("kind %q is not contact.upsert or email.validate", s.Kind)
	}
	if s.Batch < 0 {
		return usagef("-batch %d: want a positive number", s.Batch)
	}
	if s.MaxItems > 0 && s.Batch > s.MaxItems {
		return usagef("-batch %d: more than the worker's limit of %d items a job (WORKER_MAX_JOB_ITEMS)", s.Batch, s.MaxItems)
	}
	return nil
}

// Fingerprint is a canonical text of everything in s that shapes the jobs,
// hashed with the input into the default backfill id.
func (s Spec) Fingerprint(f Format) string {
	s = s.WithDefaults()
	var b strings.Builder
	fmt.Fprintf(&b, "v1\nkind=%s\ntarget=%s\naccount=%s\nlist=%d\ntags=%q\nformat=%s\nbatch=%d\nmaxitems=%d\nmaxbytes=%d\ntg=%q\noffers=%q\nmode=%s\n",
		s.Kind, s.Target, s.Account, s.ListID, s.Tags, f, s.Batch, s.MaxItems, s.MaxBytes, s.TargetGroupIDs, s.OfferIDs, s.Mode)
	keys := make([]string, 0, len(s.Map))
	for k := range s.Map {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "map %q=%q\n", strings.ToLower(k), s.Map[k])
	}
	return b.String()
}

// DeriveID returns the default backfill id for an input: the file's base
// name (letters, digits and dashes, at most 24) and the first 10 hex digits
// of SHA-256 over the spec's fingerprint and the input's bytes (as stored,
// compressed or not), like "contacts-3f2a9c1d4e". It reads r to the end.
func DeriveID(name string, fingerprint string, r io.Reader) (string, error) {
	h := sha256.New()
	io.WriteString(h, fingerprint)
	if _, err := io.Copy(h, r); err != nil {
		return "", err
	}
	sum := hex.EncodeToString(h.Sum(nil))[:10]
	base := sanitize(name)
	if base == "" {
		return "bf-" + sum, nil
	}
	return base + "-" + sum, nil
}

func sanitize(name string) string {
	base := strings.ToLower(filepath.Base(name))
	if i := strings.IndexByte(base, '.'); i >= 0 {
		base = base[:i]
	}
	var b strings.Builder
	for _, r := range base {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '-' || r == '_' || r == ' ':
			b.WriteByte('-')
		}
		if b.Len() >= 24 {
			break
		}
	}
	return strings.Trim(b.String(), "-")
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$`)

// CheckID reports whether id can name a backfill: letters, digits, '.',
// '_' and '-', at most 100 characters. Job ids are id-000001, id-000002 ...
func CheckID(id string) error {
	if !idPattern.MatchString(id) {
		return usagef("-id %q: use letters, digits, '.', '_' and '-' (at most 100)", id)
	}
	return nil
}

// JobID is the id of job n (1-based) of backfill id.
func JobID(id string, n int) string {
	return string(appendJobID(make([]byte, 0, jobIDLen(id, n)), id, n))
}

// appendJobID appends JobID(id, n): id, '-', n in at least 6 digits.
func appendJobID(b []byte, id string, n int) []byte {
	b = append(append(b, id...), '-')
	for d := digits(n); d < 6; d++ {
		b = append(b, '0')
	}
	return strconv.AppendInt(b, int64(n), 10)
}

// jobIDLen is len(JobID(id, n)).
func jobIDLen(id string, n int) int { return len(id) + 1 + max(6, digits(n)) }

// digits is the number of decimal digits of n >= 0.
func digits(n int) int {
	d := 1
	for ; n >= 10; n /= 10 {
		d++
	}
	return d
}

// JobNumber returns n when jobID is JobID(id, n).
func JobNumber(id, jobID string) (int, bool) {
	rest, ok := strings.CutPrefix(jobID, id+"-")
	if !ok || len(rest) < 6 {
		return 0, false
	}
	n, err := strconv.Atoi(rest)
	if err != nil || n <= 0 || rest[0] == '+' {
		return 0, false
	}
	return n, true
}
