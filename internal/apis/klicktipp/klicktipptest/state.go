package klicktipptest

import (
	"crypto/rand"
	"encoding/base64"
	"sort"
	"strings"
	"time"
)

// Seeded account. The credentials are for the fake only.
const (
	Username     = "sandbox"
	Password     = "sandbox-password"
	DeveloperKey = "5eed0123456789abcdef5eed0123456789abcdef" // hex
	CustomerKey  = "sandbox-customer-key"
	// SessionName is the session cookie name the fake hands out.
	SessionName = "SSESS5eedfa4e0b1d2c3e4f5a6b7c8d9e0f1a"
)

// Seeded opt-in processes (lists) and tags.
const (
	// DefaultListID is the account's default double opt-in process (its
	// name is empty, as in KlickTipp); used when a request names no list.
	DefaultListID int64 = 122
	// ListID is a single opt-in process ("Newsletter signup"): contacts
	// added through it are Subscribed at once.
	ListID int64 = 123
	// DoubleOptInListID is a named double opt-in process ("Webinar").
	DoubleOptInListID int64 = 124

	TagCustomer   int64 = 17 // "customer"
	TagVIP        int64 = 18 // "vip"
	TagNewsletter int64 = 21 // "newsletter"

	// CustomFieldKey is a seeded custom data field ("Customer number").
	CustomFieldKey = "field12345"
)

// Subscriber statuses as KlickTipp spells them.
const (
	StatusSubscribed = "Subscribed"
	StatusPending    = "Opt-In Pending"
	// StatusUnsubscribed is a contact's status after POST
	// /subscriber/unsubscribe (the spelling is a guess).
	StatusUnsubscribed = "Unsubscribed"
)

// firstSubscriberID is the id of the first contact created.
const firstSubscriberID int64 = 881

// Subscriber is a contact as the fake stores it.
type Subscriber struct {
	ID     int64             `json:"id"`
	Email  string            `json:"email"`
	Status string            `json:"status"`
	ListID int64             `json:"listid"`
	Tags   []int64           `json:"tags"`   // ascending
	Fields map[string]string `json:"fields"` // only fields that were set
	Optin  time.Time         `json:"optin"`  // when the contact was added
}

// fieldKind is how a data field's value is validated.
type fieldKind int

const (
	kindLine fieldKind = iota
	kindNumber
	kindDate
	kindURL
)

type field struct {
	label string
	kind  fieldKind
}

type list struct {
	name        string
	singleOptIn bool
}

type session struct {
	user     string
	lastUsed time.Time
}

type contact struct {
	Subscriber
	tagged map[int64]time.Time
}

// seedFields are KlickTipp's standard fields plus one custom field.
var seedFields = map[string]field{
	"fieldFirstName":    {"First name", kindLine},
	"fieldLastName":     {"Last name", kindLine},
	"fieldCompanyName":  {"Company", kindLine},
	"fieldStreet1":      {"Street 1", kindLine},
	"fieldStreet2":      {"Street 2", kindLine},
	"fieldCity":         {"City", kindLine},
	"fieldState":        {"State", kindLine},
	"fieldZip":          {"Zip", kindLine},
	"fieldCountry":      {"Country", kindLine},
	"fieldPrivatePhone": {"Private phone", kindLine},
	"fieldMobilePhone":  {"Mobile phone", kindLine},
	"fieldPhone":        {"Phone", kindLine},
	"fieldFax":          {"Fax", kindLine},
	"fieldWebsite":      {"Website", kindURL},
	"fieldBirthday":     {"Birthday", kindDate},
	"fieldLeadValue":    {"Lead value", kindNumber},
	CustomFieldKey:      {"Customer number", kindLine},
}

// standardFields are the field keys every subscriber object carries.
var standardFields = []string{"fieldFirstName", "fieldLastName", "fieldCompanyName", "fieldStreet1",
	"fieldStreet2", "fieldCity", "fieldState", "fieldZip", "fieldCountry", "fieldPrivatePhone",
	"fieldMobilePhone", "fieldPhone", "fieldFax", "fieldWebsite", "fieldBirthday", "fieldLeadValue"}

func (s *Server) seed() {
	s.fields = map[string]field{}
	for k, f := range seedFields {
		s.fields[k] = f
	}
	s.lists = map[int64]list{
		DefaultListID:     {"", false},
		ListID:            {"Newsletter signup", true},
		DoubleOptInListID: {"Webinar", false},
	}
	s.nextListID = DoubleOptInListID + 1
	s.tags = map[int64]string{TagCustomer: "customer", TagVIP: "vip", TagNewsletter: "newsletter"}
	s.nextTagID = TagNewsletter + 1
	s.contacts = map[string]*contact{}
	s.nextSubID = firstSubscriberID
	s.sessions = map[string]*session{}
}

// newSessionID returns a random Drupal-like session id.
func newSessionID() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// snapshot copies a contact for callers.
func (c *contact) snapshot() Subscriber {
	out := c.Subscriber
	out.Tags = make([]int64, 0, len(c.tagged))
	for id := range c.tagged {
		out.Tags = append(out.Tags, id)
	}
	sort.Slice(out.Tags, func(i, j int) bool { return out.Tags[i] < out.Tags[j] })
	out.Fields = make(map[string]string, len(c.Fields))
	for k, v := range c.Fields {
		out.Fields[k] = v
	}
	return out
}

// Logins returns how many logins succeeded.
func (s *Server) Logins() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logins
}

// Logouts returns how many logouts closed a session.
func (s *Server) Logouts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logouts
}

// OpenSessions returns how many sessions are logged in and not expired.
func (s *Server) OpenSessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireIdleLocked()
	return len(s.sessions)
}

// ExpireSessions invalidates every current session, as a server-side expiry
// would: their next request is denied.
func (s *Server) ExpireSessions() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expired += len(s.sessions)
	s.sessions = map[string]*session{}
}

// Subscribers returns all contacts, by ascending id.
func (s *Server) Subscribers() []Subscriber {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Subscriber, 0, len(s.contacts))
	for _, c := range s.contacts {
		out = append(out, c.snapshot())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Subscriber returns the contact with email (case-insensitive).
func (s *Server) Subscriber(email string) (Subscriber, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.contacts[normEmail(email)]
	if !ok {
		return Subscriber{}, false
	}
	return c.snapshot(), true
}

// Tags returns all tags, id → name.
func (s *Server) Tags() map[int64]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[int64]string, len(s.tags))
	for k, v := range s.tags {
		out[k] = v
	}
	return out
}

// AddTag creates a tag and returns its id.
func (s *Server) AddTag(name string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addTagLocked(name)
}

// tagByNameLocked returns the lowest id of a tag named name
// (case-insensitively).
func (s *Server) tagByNameLocked(name string) (int64, bool) {
	var best int64
	for id, n := range s.tags {
		if strings.EqualFold(strings.TrimSpace(n), name) && (best == 0 || id < best) {
			best = id
		}
	}
	return best, best != 0
}

func (s *Server) addTagLocked(name string) int64 {
	if id, ok := s.tagByNameLocked(name); ok {
		return id
	}
	return s.newTagLocked(name)
}

// newTagLocked creates a tag called name, even when one exists.
func (s *Server) newTagLocked(name string) int64 {
	id := s.nextTagID
	s.nextTagID++
	s.tags[id] = name
	return id
}

// AddList creates an opt-in process and returns its id.
func (s *Server) AddList(name string, singleOptIn bool) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.nextListID
	s.nextListID++
	s.lists[id] = list{name, singleOptIn}
	return id
}

// AddField creates a free-text data field (key like "field777").
func (s *Server) AddField(key, label string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fields[key] = field{label, kindLine}
}

// expireIdleLocked drops sessions idle longer than the TTL.
func (s *Server) expireIdleLocked() {
	if s.ttl <= 0 {
		return
	}
	now := s.now()
	for id, ss := range s.sessions {
		if now.Sub(ss.lastUsed) > s.ttl {
			delete(s.sessions, id)
			s.expired++
		}
	}
}

func normEmail(e string) string { return strings.ToLower(strings.TrimSpace(e)) }
