package klicktipptest

import (
	"net/http"
	"net/mail"
	"strconv"
	"strings"
	"time"
)

// routes is the API without middleware.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /account/login", s.login)
	mux.HandleFunc("POST /account/logout", s.authed(s.logout))
	mux.HandleFunc("POST /subscriber", s.authed(s.subscribe))
	mux.HandleFunc("POST /subscriber/tag", s.authed(s.tagSubscriber))
	mux.HandleFunc("POST /subscriber/search", s.authed(s.search))
	mux.HandleFunc("GET /tag", s.authed(s.listTags))
	mux.HandleFunc("POST /tag", s.authed(s.createTag))
	mux.HandleFunc("GET /field", s.authed(s.listFields))
	mux.HandleFunc("GET /list", s.authed(s.listLists))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, []string{msgNoSuchEntity})
	})
	return mux
}

// login: POST /account/login {"username","password"}.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	in, err := readInput(r)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, []string{msgBadRequestContent})
		return
	}
	user, ok := in.str("username")
	if !ok {
		writeJSON(w, http.StatusBadRequest, []string{`The key "username" must be a string.`})
		return
	}
	pass, ok := in.str("password")
	if !ok {
		writeJSON(w, http.StatusBadRequest, []string{`The key "password" must be a string.`})
		return
	}
	s.mu.Lock()
	if !strings.EqualFold(strings.TrimSpace(user), s.username) || pass != s.password || s.password == "" {
		s.failed++
		s.mu.Unlock()
		writeJSON(w, http.StatusUnauthorized, []string{msgWrongCredentials})
		return
	}
	id := newSessionID()
	s.sessions[id] = &session{user: s.username, lastUsed: s.now()}
	s.logins++
	s.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: SessionName, Value: id, Path: "/", Secure: true, HttpOnly: true})
	writeJSON(w, http.StatusOK, map[string]any{
		"sessid":       id,
		"session_name": SessionName,
		"account": map[string]any{
			"uid": 4711, "status": 1, "tier": 20, "usergroup": "42",
			"username": s.username, "email": "sandbox@klicktipp.example",
			"firstname": "Sandy", "lastname": "Box", "company": "crmsync sandbox",
			"country": "DE", "city": "Berlin", "zip": "10115", "affid": "0",
		},
	})
}

// logout: POST /account/logout ends the session; partner requests have none.
func (s *Server) logout(w http.ResponseWriter, _ *http.Request, p principal) {
	if !p.partner {
		s.mu.Lock()
		if _, ok := s.sessions[p.session]; ok {
			delete(s.sessions, p.session)
			s.logouts++
		}
		s.mu.Unlock()
	}
	writeJSON(w, http.StatusOK, []bool{true})
}

// validEmail is KlickTipp's check, roughly: one address with a local part
// and a dotted domain, no display name.
func validEmail(e string) bool {
	if e == "" || strings.ContainsAny(e, " \t\r\n<>") {
		return false
	}
	a, err := mail.ParseAddress(e)
	if err != nil || a.Name != "" || a.Address != e {
		return false
	}
	at := strings.LastIndexByte(e, '@')
	domain := e[at+1:]
	return at > 0 && strings.Contains(domain, ".") && !strings.HasPrefix(domain, ".") && !strings.HasSuffix(domain, ".")
}

// validValue checks a data field value by the field's type.
func validValue(f field, v string) bool {
	switch f.kind {
	case kindNumber:
		_, err := strconv.ParseInt(v, 10, 64)
		return v == "" || err == nil
	case kindDate:
		return v == "" || isDigits(v)
	case kindURL:
		return v == "" || strings.HasPrefix(v, "http://") || strings.HasPrefix(v, "https://")
	default:
		return !strings.ContainsAny(v, "\r\n")
	}
}

// subscribe: POST /subscriber adds or updates a contact by email.
func (s *Server) subscribe(w http.ResponseWriter, r *http.Request, _ principal) {
	in, err := readInput(r)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, []string{msgBadRequestContent})
		return
	}
	email, _ := in.str("email")
	email = strings.TrimSpace(email)
	if email == "" {
		// The fake does not model SMS-only contacts.
		refuse(w, codeEmailRequired)
		return
	}
	if !validEmail(email) {
		refuse(w, codeInvalidEmail)
		return
	}
	listID, hasList, ok := in.id("listid")
	if !ok {
		refuse(w, codeListNotFound)
		return
	}
	tagID, hasTag, ok := in.id("tagid")
	if !ok {
		refuse(w, codeTagNotFound)
		return
	}
	fields, ok := in.strMap("fields")
	if !ok {
		refuse(w, codeFieldValidation)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !hasList {
		listID = DefaultListID
	}
	l, ok := s.lists[listID]
	if !ok {
		refuse(w, codeListNotFound)
		return
	}
	if _, ok := s.tags[tagID]; hasTag && !ok {
		refuse(w, codeTagNotFound)
		return
	}
	for k, v := range fields {
		f, ok := s.fields[k]
		if !ok || !validValue(f, v) {
			refuse(w, codeFieldValidation)
			return
		}
	}
	now := s.now()
	key := normEmail(email)
	c, exists := s.contacts[key]
	if !exists {
		c = &contact{Subscriber: Subscriber{ID: s.nextSubID, Email: key, Status: StatusPending, ListID: listID,
			Fields: map[string]string{}, Optin: now}, tagged: map[int64]time.Time{}}
		s.nextSubID++
		s.contacts[key] = c
	}
	if !exists || hasList {
		c.ListID = listID
	}
	if l.singleOptIn {
		c.Status = StatusSubscribed
	}
	for k, v := range fields {
		c.Fields[k] = v
	}
	if hasTag {
		if _, ok := c.tagged[tagID]; !ok {
			c.tagged[tagID] = now
		}
	}
	writeJSON(w, http.StatusOK, s.wireSubscriber(c))
}

// wireSubscriber renders a contact as KlickTipp's SubscriberDetail: ids as
// strings, every standard field present, PHP empty arrays as [].
func (s *Server) wireSubscriber(c *contact) map[string]any {
	date := c.Optin.UTC().Format("02.01.2006")
	m := map[string]any{
		"id": strconv.FormatInt(c.ID, 10), "listid": strconv.FormatInt(c.ListID, 10),
		"optin": date, "optin_ip": "0.0.0.0", "email": c.Email, "status": c.Status,
		"bounce": "Not Bounced", "date": date, "ip": "0.0.0.0",
		"unsubscription": "", "unsubscription_ip": "0.0.0.0", "referrer": "",
		"sms_phone": "", "sms_status": "", "sms_bounce": "", "sms_date": "",
		"sms_unsubscription": "", "sms_referrer": nil,
		"smart_tags": []any{}, "notification_emails_sent": []any{}, "notification_emails_opened": []any{},
		"notification_emails_clicked": []any{}, "emails_sent": []any{}, "emails_opened": []any{},
		"emails_clicked": []any{}, "campaigns_started": []any{}, "campaigns_finished": []any{},
	}
	for _, k := range standardFields {
		m[k] = ""
	}
	for k, v := range c.Fields {
		m[k] = v
	}
	tags := make([]string, 0, len(c.tagged))
	manual := map[string]string{}
	for _, id := range sortedIDs(c.tagged) {
		sid := strconv.FormatInt(id, 10)
		tags = append(tags, sid)
		manual[sid] = strconv.FormatInt(c.tagged[id].Unix(), 10)
	}
	m["tags"] = tags
	if len(manual) > 0 {
		m["manual_tags"] = manual
	} else {
		m["manual_tags"] = []any{}
	}
	return m
}

// tagSubscriber: POST /subscriber/tag {"email","tagids"} → [true].
func (s *Server) tagSubscriber(w http.ResponseWriter, r *http.Request, _ principal) {
	in, err := readInput(r)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, []string{msgBadRequestContent})
		return
	}
	email, _ := in.str("email")
	if strings.TrimSpace(email) == "" {
		refuse(w, codeEmailRequired)
		return
	}
	ids, ok := in.ids("tagids")
	if !ok || len(ids) == 0 {
		refuse(w, codeTagNotFound)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.contacts[normEmail(email)]
	if !ok {
		refuse(w, codeEmailNotFound)
		return
	}
	for _, id := range ids {
		if _, ok := s.tags[id]; !ok {
			refuse(w, codeTagNotFound)
			return
		}
	}
	now := s.now()
	for _, id := range ids {
		if _, ok := c.tagged[id]; !ok {
			c.tagged[id] = now
		}
	}
	writeJSON(w, http.StatusOK, []bool{true})
}

// search: POST /subscriber/search {"email"} → [id] or 404.
func (s *Server) search(w http.ResponseWriter, r *http.Request, _ principal) {
	in, err := readInput(r)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, []string{msgBadRequestContent})
		return
	}
	email, _ := in.str("email")
	s.mu.Lock()
	c, ok := s.contacts[normEmail(email)]
	var id int64
	if ok {
		id = c.ID
	}
	s.mu.Unlock()
	if !ok {
		writeJSON(w, http.StatusNotFound, []string{msgNoSuchEntity})
		return
	}
	writeJSON(w, http.StatusOK, []int64{id})
}

// idNames renders id → name as a JSON object, or [] when empty (PHP).
func idNames[V any](m map[int64]V, name func(V) string) any {
	if len(m) == 0 {
		return []any{}
	}
	out := make(map[string]string, len(m))
	for id, v := range m {
		out[strconv.FormatInt(id, 10)] = name(v)
	}
	return out
}

// listTags: GET /tag → {"<id>":"<name>"}.
func (s *Server) listTags(w http.ResponseWriter, _ *http.Request, _ principal) {
	s.mu.Lock()
	body := idNames(s.tags, func(n string) string { return n })
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, body)
}

// createTag: POST /tag {"name"} → [id]. A name that exists (case-insensitive)
// returns the existing tag's id.
func (s *Server) createTag(w http.ResponseWriter, r *http.Request, _ principal) {
	in, err := readInput(r)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, []string{msgBadRequestContent})
		return
	}
	name, _ := in.str("name")
	name = strings.TrimSpace(name)
	if name == "" {
		writeJSON(w, http.StatusNotAcceptable, []string{"The tag name is required."})
		return
	}
	s.mu.Lock()
	id := s.addTagLocked(name)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, []int64{id})
}

// listFields: GET /field → {"fieldFirstName":"First name", ...}.
func (s *Server) listFields(w http.ResponseWriter, _ *http.Request, _ principal) {
	s.mu.Lock()
	out := make(map[string]string, len(s.fields))
	for k, f := range s.fields {
		out[k] = f.label
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

// listLists: GET /list → {"<id>":"<name>"}; the default double opt-in has
// an empty name.
func (s *Server) listLists(w http.ResponseWriter, _ *http.Request, _ principal) {
	s.mu.Lock()
	body := idNames(s.lists, func(l list) string { return l.name })
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, body)
}
