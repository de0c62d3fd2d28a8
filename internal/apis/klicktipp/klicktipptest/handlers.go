package klicktipptest

import (
	"net/http"
	"net/mail"
	"strconv"
	"strings"
	"time"
)

// route is one modelled endpoint: a method and a path whose {x} segments
// match any one segment.
type route struct {
	method, path string
	h            http.HandlerFunc
}

// routes is the list of endpoints the fake models, the documented routes
// (klicktipp-management.openapi.json) the client may touch.
func (s *Server) routeList() []route {
	return []route{
		{"POST", "/account/login", s.login},
		{"POST", "/account/logout", s.logout},
		{"POST", "/subscriber", s.authed(s.subscribe)},
		{"GET", "/subscriber/{id}", s.authed(s.getSubscriber)},
		{"PUT", "/subscriber/{id}", s.authed(s.updateSubscriber)},
		{"POST", "/subscriber/tag", s.authed(s.tagSubscriber)},
		{"POST", "/subscriber/untag", s.authed(s.untagSubscriber)},
		{"POST", "/subscriber/unsubscribe", s.authed(s.unsubscribe)},
		{"POST", "/subscriber/search", s.authed(s.search)},
		{"GET", "/tag", s.authed(s.listTags)},
		{"POST", "/tag", s.authed(s.createTag)},
		{"GET", "/tag/{id}", s.authed(s.getTag)},
		{"GET", "/field", s.authed(s.listFields)},
		{"GET", "/list", s.authed(s.listLists)},
	}
}

// routes is the API without middleware. A path that is modelled but asked
// with another method gets 405 with Allow and the text KlickTipp's router
// (Symfony) answers, as recorded in klicktipp-php-client's TagTest; a path
// that is not modelled gets 404 with the same router's "No route found"
// string (a guess by analogy), so a wrong path never looks like a missing
// subscriber (404 ["There is no such entity."]).
func (s *Server) routes() http.Handler {
	list := s.routeList()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var allow []string
		for _, rt := range list {
			if !pathMatches(rt.path, r.URL.Path) {
				continue
			}
			if rt.method == r.Method {
				rt.h(w, r)
				return
			}
			allow = append(allow, rt.method)
		}
		where := r.Method + " " + requestURL(r)
		if len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			writeJSON(w, http.StatusMethodNotAllowed, "No route found for \""+where+"\": Method Not Allowed (Allow: "+strings.Join(allow, ", ")+")")
			return
		}
		writeJSON(w, http.StatusNotFound, "No route found for \""+where+"\"")
	})
}

// pathMatches reports whether path fits pattern segment by segment, a
// {x} segment matching any non-empty one.
func pathMatches(pattern, path string) bool {
	ps, qs := strings.Split(pattern, "/"), strings.Split(path, "/")
	if len(ps) != len(qs) {
		return false
	}
	for i := range ps {
		if strings.HasPrefix(ps[i], "{") {
			if qs[i] == "" {
				return false
			}
			continue
		}
		if ps[i] != qs[i] {
			return false
		}
	}
	return true
}

func requestURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + r.URL.Path
}

// login: POST /account/login {"username","password"}.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	in, err := readInput(r)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, []string{s.text().badBody})
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
	s.expireIdleLocked()
	if _, live := s.sessions[sessionIDOf(r)]; live {
		s.mu.Unlock()
		writeJSON(w, http.StatusNotAcceptable, []string{s.text().alreadyIn})
		return
	}
	if !strings.EqualFold(strings.TrimSpace(user), s.username) || pass != s.password || s.password == "" {
		s.failed++
		s.mu.Unlock()
		writeJSON(w, http.StatusUnauthorized, []string{s.text().wrongLogin})
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
			// The members of the spec's example and of klicktipp-php-client's
			// recorded login (ids as strings, as recorded; tier a number).
			"uid": "4711", "status": "1", "tier": 20, "usergroup": "42",
			"username": s.username, "email": "sandbox@klicktipp.example",
			"firstname": "Sandy", "lastname": "Box", "company": "crmsync sandbox",
			"website": "https://sandbox.klicktipp.example", "street": "Sandweg 1",
			"city": "Berlin", "state": "Berlin", "zip": "10115", "country": "DE",
			"phone": "", "fax": "", "affid": "0",
		},
	})
}

// logout: POST /account/logout ends the session → [true]; without a live
// session → 406 ["Benutzer nicht eingeloggt."] (recorded in
// klicktipp-php-client's AccountTest). Partner requests have no session and
// get [true].
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if p, ok := s.authenticate(r); ok && p.partner {
		writeJSON(w, http.StatusOK, []bool{true})
		return
	}
	id := sessionIDOf(r)
	s.mu.Lock()
	s.expireIdleLocked()
	_, live := s.sessions[id]
	if live {
		delete(s.sessions, id)
		s.logouts++
	}
	s.mu.Unlock()
	if !live {
		writeJSON(w, http.StatusNotAcceptable, []string{s.text().notLoggedIn})
		return
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
		writeJSON(w, http.StatusBadRequest, []string{s.text().badBody})
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
			s.refuseField(w, k, v)
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
		writeJSON(w, http.StatusBadRequest, []string{s.text().badBody})
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
		writeJSON(w, http.StatusBadRequest, []string{s.text().badBody})
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
		writeJSON(w, http.StatusNotFound, []string{s.text().noSuchEntity})
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

// createTag: POST /tag {"name"} → [id]. An empty name gets 406 ["Tag
// konnte nicht erstellt werden."] (klicktipp-php-client's TagTest); so does
// a name that exists (case-insensitively), unless
// WithDuplicateTagsReturnExisting, when its id is the answer, or
// WithDuplicateTagsCreated, when a second tag of that name is created.
func (s *Server) createTag(w http.ResponseWriter, r *http.Request, _ principal) {
	in, err := readInput(r)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, []string{s.text().badBody})
		return
	}
	name, _ := in.str("name")
	name = strings.TrimSpace(name)
	s.mu.Lock()
	id, exists := s.tagByNameLocked(name)
	switch {
	case name == "" || (exists && !s.dupTagsExisting && !s.dupTagsCreated):
		s.mu.Unlock()
		writeJSON(w, http.StatusNotAcceptable, []string{s.text().tagNotCreated})
		return
	case !exists || s.dupTagsCreated:
		id = s.newTagLocked(name)
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, []int64{id})
}

// getTag: GET /tag/{id} → {"tagid","name","text"} (spec example), or 404.
func (s *Server) getTag(w http.ResponseWriter, r *http.Request, _ principal) {
	id, err := strconv.ParseInt(lastSegment(r), 10, 64)
	s.mu.Lock()
	name, ok := s.tags[id]
	s.mu.Unlock()
	if err != nil || !ok {
		writeJSON(w, http.StatusNotFound, []string{s.text().noSuchTag})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"tagid": strconv.FormatInt(id, 10), "name": name, "text": ""})
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

// lastSegment is the {id} of a route like /tag/{id}.
func lastSegment(r *http.Request) string {
	p := r.URL.Path
	return p[strings.LastIndexByte(p, '/')+1:]
}

// contactByIDLocked finds a contact by id.
func (s *Server) contactByIDLocked(raw string) (*contact, bool) {
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil {
		return nil, false
	}
	for _, c := range s.contacts {
		if c.ID == id {
			return c, true
		}
	}
	return nil, false
}

// getSubscriber: GET /subscriber/{id} → the subscriber object, or 404 with
// an empty body (as recorded in klicktipp-php-client's SubscriberTest).
func (s *Server) getSubscriber(w http.ResponseWriter, r *http.Request, _ principal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.contactByIDLocked(lastSegment(r))
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	writeJSON(w, http.StatusOK, s.wireSubscriber(c))
}

// updateSubscriber: PUT /subscriber/{id} {"newemail"?, "fields"?} → [true];
// an unknown id → 406 ["Der Kontakt existiert nicht."] (php-client
// SubscriberTest), a bad new email → 406 {"error": 5}, a bad field → 406
// {"error": 8, "field", "name", "field_value", "reason"} (the details the
// n8n node reads), an email another contact has → 406 {"error": 30}.
func (s *Server) updateSubscriber(w http.ResponseWriter, r *http.Request, _ principal) {
	in, err := readInput(r)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, []string{s.text().badBody})
		return
	}
	fields, ok := in.strMap("fields")
	if !ok {
		refuse(w, codeFieldValidation)
		return
	}
	newEmail, _ := in.str("newemail")
	newEmail = strings.TrimSpace(newEmail)
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.contactByIDLocked(lastSegment(r))
	if !ok {
		writeJSON(w, http.StatusNotAcceptable, []string{s.text().noSuchContact})
		return
	}
	if newEmail != "" && !validEmail(newEmail) {
		refuse(w, codeInvalidEmail)
		return
	}
	if k := normEmail(newEmail); newEmail != "" && k != c.Email {
		if _, taken := s.contacts[k]; taken {
			refuse(w, codeEmailChange)
			return
		}
	}
	for k, v := range fields {
		if f, ok := s.fields[k]; !ok || !validValue(f, v) {
			s.refuseField(w, k, v)
			return
		}
	}
	for k, v := range fields {
		c.Fields[k] = v
	}
	if k := normEmail(newEmail); newEmail != "" && k != c.Email {
		delete(s.contacts, c.Email)
		c.Email = k
		s.contacts[k] = c
	}
	writeJSON(w, http.StatusOK, []bool{true})
}

// refuseField answers 406 {"error": 8} with the validation details.
func (s *Server) refuseField(w http.ResponseWriter, key, value string) {
	body := map[string]any{"error": codeFieldValidation, "name": key, "field_value": value}
	if f, ok := s.fields[key]; ok {
		body["field"] = f.label
		body["reason"] = reasonFor(f.kind)
	} else {
		body["reason"] = "is not a field of this account" // guess
	}
	writeJSON(w, http.StatusNotAcceptable, body)
}

// reasonFor words why a value does not fit a field kind (guesses in the
// style of the n8n node's example, "must be a numeric value").
func reasonFor(k fieldKind) string {
	switch k {
	case kindNumber:
		return "must be a numeric value"
	case kindDate:
		return "must be a date (Unix timestamp)"
	case kindURL:
		return "must be a URL"
	}
	return "must be a single line of text"
}

// untagSubscriber: POST /subscriber/untag {"email","tagid"} → [true]; an
// unknown email → 406 {"error": 7} (php-client SubscriberTest), an unknown
// tag → 406 {"error": 403}.
func (s *Server) untagSubscriber(w http.ResponseWriter, r *http.Request, _ principal) {
	in, err := readInput(r)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, []string{s.text().badBody})
		return
	}
	email, _ := in.str("email")
	tagID, present, valid := in.id("tagid")
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.contacts[normEmail(email)]
	if !ok {
		refuse(w, codeEmailNotFound)
		return
	}
	if _, known := s.tags[tagID]; !present || !valid || !known {
		refuse(w, codeTagNotFound)
		return
	}
	delete(c.tagged, tagID)
	writeJSON(w, http.StatusOK, []bool{true})
}

// unsubscribe: POST /subscriber/unsubscribe {"email"} → [true]; an unknown
// email → 406 {"error": 7}, a contact not subscribed (still pending or
// already unsubscribed) → 406 {"error": 9} (php-client SubscriberTest).
func (s *Server) unsubscribe(w http.ResponseWriter, r *http.Request, _ principal) {
	in, err := readInput(r)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, []string{s.text().badBody})
		return
	}
	email, _ := in.str("email")
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.contacts[normEmail(email)]
	switch {
	case !ok:
		refuse(w, codeEmailNotFound)
	case c.Status != StatusSubscribed:
		refuse(w, codeNotSubscribed)
	default:
		c.Status = StatusUnsubscribed
		writeJSON(w, http.StatusOK, []bool{true})
	}
}
