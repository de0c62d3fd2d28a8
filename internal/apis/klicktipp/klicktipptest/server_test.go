package klicktipptest_test

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"crmsync/internal/apis/apistest"
	"crmsync/internal/apis/klicktipp/klicktipptest"
)

// wire is a raw HTTP helper, so the fake is tested without the client.
type wire struct {
	t   *testing.T
	srv *klicktipptest.Server
	hc  *http.Client
}

func newWire(t *testing.T, opts ...klicktipptest.Option) *wire {
	t.Helper()
	srv := klicktipptest.NewServer(opts...)
	t.Cleanup(srv.Close)
	hc := &http.Client{Timeout: 5 * time.Second}
	t.Cleanup(hc.CloseIdleConnections)
	return &wire{t: t, srv: srv, hc: hc}
}

// multipartForm is a body sent as multipart/form-data.
type multipartForm map[string]string

// do sends body (JSON unless it is url.Values) with headers and returns
// status, headers and body.
func (w *wire) do(method, path string, body any, hdr map[string]string) (int, http.Header, string) {
	w.t.Helper()
	var rd io.Reader
	ct := ""
	switch b := body.(type) {
	case nil:
	case url.Values:
		rd, ct = strings.NewReader(b.Encode()), "application/x-www-form-urlencoded"
	case multipartForm:
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		for k, v := range b {
			_ = mw.WriteField(k, v)
		}
		_ = mw.Close()
		rd, ct = &buf, mw.FormDataContentType()
	default:
		j, _ := json.Marshal(b)
		rd, ct = bytes.NewReader(j), "application/json"
	}
	req, err := http.NewRequestWithContext(w.t.Context(), method, w.srv.URL+path, rd)
	if err != nil {
		w.t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := w.hc.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, strings.TrimSpace(string(b))
}

// login returns the session cookie header value.
func (w *wire) login() string {
	w.t.Helper()
	status, h, body := w.do("POST", "/account/login", map[string]string{"username": klicktipptest.Username, "password": klicktipptest.Password}, nil)
	if status != 200 {
		w.t.Fatalf("login: %d %s", status, body)
	}
	var a struct {
		SessID      string         `json:"sessid"`
		SessionName string         `json:"session_name"`
		Account     map[string]any `json:"account"`
	}
	if err := json.Unmarshal([]byte(body), &a); err != nil || a.SessID == "" || a.SessionName != klicktipptest.SessionName || a.Account["username"] != klicktipptest.Username {
		w.t.Fatalf("login body %s: %v", body, err)
	}
	if sc := h.Get("Set-Cookie"); !strings.HasPrefix(sc, a.SessionName+"="+a.SessID+";") {
		w.t.Fatalf("Set-Cookie %q", sc)
	}
	return a.SessionName + "=" + a.SessID
}

// vectorXCI is DESIGN.md's X-Ci for developer key 0123456789abcdef and
// customer key customer-key.
const vectorXCI = "cZkWFoPs3rLacJ4OpaooJMMOcb/fLxbZpeeOzJFCGh1jdXN0b21lci1rZXk="

func TestLogin(t *testing.T) {
	t.Parallel()
	w := newWire(t)
	tests := []struct {
		body   any
		status int
		want   string
	}{
		{map[string]string{"username": klicktipptest.Username, "password": "nope"}, 401, `["Wrong username or password."]`},
		{map[string]string{"username": "someone", "password": klicktipptest.Password}, 401, `["Wrong username or password."]`},
		{map[string]any{"username": 5, "password": "x"}, 400, `["The key \"username\" must be a string."]`},
		{map[string]any{"username": "x"}, 400, `["The key \"password\" must be a string."]`},
	}
	for _, tt := range tests {
		if status, _, body := w.do("POST", "/account/login", tt.body, nil); status != tt.status || body != tt.want {
			t.Errorf("login %v: %d %s, want %d %s", tt.body, status, body, tt.status, tt.want)
		}
	}
	// Form-encoded login works too.
	form := url.Values{"username": {klicktipptest.Username}, "password": {klicktipptest.Password}}
	if status, _, body := w.do("POST", "/account/login", form, nil); status != 200 {
		t.Fatalf("form login: %d %s", status, body)
	}
	if w.srv.Logins() != 1 || w.srv.OpenSessions() != 1 || w.srv.Snapshot().FailedLogins != 2 {
		t.Fatalf("logins %d open %d", w.srv.Logins(), w.srv.OpenSessions())
	}
}

func TestSessionAuth(t *testing.T) {
	t.Parallel()
	w := newWire(t)
	cookie := w.login()
	sid := strings.TrimPrefix(cookie, klicktipptest.SessionName+"=")
	denied := `["API access denied."]`
	for name, hdr := range map[string]map[string]string{
		"none":         nil,
		"wrong cookie": {"Cookie": klicktipptest.SessionName + "=nope"},
		"wrong name":   {"Cookie": "SSESSother=" + sid},
	} {
		if status, _, body := w.do("GET", "/tag", nil, hdr); status != 403 || body != denied {
			t.Errorf("%s: %d %s", name, status, body)
		}
	}
	for name, hdr := range map[string]map[string]string{
		"cookie":       {"Cookie": cookie},
		"X-Session-Id": {"X-Session-Id": sid},
	} {
		if status, _, body := w.do("GET", "/tag", nil, hdr); status != 200 {
			t.Errorf("%s: %d %s", name, status, body)
		}
	}
	if status, _, body := w.do("POST", "/account/logout", nil, map[string]string{"Cookie": cookie}); status != 200 || body != "[true]" {
		t.Fatalf("logout: %d %s", status, body)
	}
	if status, _, _ := w.do("GET", "/tag", nil, map[string]string{"Cookie": cookie}); status != 403 {
		t.Fatalf("after logout: %d", status)
	}
	if w.srv.Logouts() != 1 || w.srv.OpenSessions() != 0 {
		t.Fatalf("logouts %d open %d", w.srv.Logouts(), w.srv.OpenSessions())
	}
}

func TestExpireSessionsAndDeniedStatus(t *testing.T) {
	t.Parallel()
	w := newWire(t, klicktipptest.WithDeniedStatus(401))
	a, b := w.login(), w.login()
	w.srv.ExpireSessions()
	for _, c := range []string{a, b} {
		if status, _, body := w.do("GET", "/field", nil, map[string]string{"Cookie": c}); status != 401 || body != `["API access denied."]` {
			t.Fatalf("expired session: %d %s", status, body)
		}
	}
	if w.srv.OpenSessions() != 0 || w.srv.Snapshot().Expired != 2 {
		t.Fatalf("open %d", w.srv.OpenSessions())
	}
}

func TestPartnerAuth(t *testing.T) {
	t.Parallel()
	// Configured with the DESIGN.md test-vector keys, the fake accepts
	// exactly the documented X-Ci.
	w := newWire(t, klicktipptest.WithPartnerKeys(" 0123456789ABCDEF", "customer-key "))
	for _, tt := range []struct {
		un, ci string
		status int
	}{
		{klicktipptest.Username, vectorXCI, 200},
		{strings.ToUpper(klicktipptest.Username), vectorXCI, 200},
		{klicktipptest.Username, "", 403},
		{"", vectorXCI, 403},
		{"other", vectorXCI, 403},
		{klicktipptest.Username, vectorXCI[:20], 403},
	} {
		status, _, body := w.do("GET", "/list", nil, map[string]string{"X-Un": tt.un, "X-Ci": tt.ci})
		if status != tt.status {
			t.Errorf("X-Un %q X-Ci %q: %d %s, want %d", tt.un, tt.ci, status, body, tt.status)
		}
	}
	// Partner logout is harmless and counts nothing.
	if status, _, _ := w.do("POST", "/account/logout", nil, map[string]string{"X-Un": klicktipptest.Username, "X-Ci": vectorXCI}); status != 200 {
		t.Fatalf("partner logout: %d", status)
	}
	if w.srv.Logins() != 0 || w.srv.Logouts() != 0 {
		t.Fatal("partner requests counted as sessions")
	}
}

func TestSubscriberShapes(t *testing.T) {
	t.Parallel()
	w := newWire(t)
	h := map[string]string{"Cookie": w.login()}
	status, _, body := w.do("POST", "/subscriber", map[string]any{"email": "ann@example.com", "listid": "123", "tagid": 21,
		"fields": map[string]any{"fieldFirstName": "Ann", "fieldLeadValue": 100}}, h)
	if status != 200 {
		t.Fatalf("subscribe: %d %s", status, body)
	}
	var sub map[string]any
	if err := json.Unmarshal([]byte(body), &sub); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{"id": "881", "listid": "123", "email": "ann@example.com", "status": "Subscribed",
		"fieldFirstName": "Ann", "fieldLeadValue": "100", "fieldCity": "", "bounce": "Not Bounced"} {
		if sub[k] != want {
			t.Errorf("%s = %#v, want %#v", k, sub[k], want)
		}
	}
	if tags, _ := json.Marshal(sub["tags"]); string(tags) != `["21"]` {
		t.Errorf("tags %s", tags)
	}
	// Errors as KlickTipp sends them.
	for _, tt := range []struct {
		body any
		want string
	}{
		{map[string]any{}, `{"error":32}`},
		{map[string]any{"email": "no-at-sign"}, `{"error":5}`},
		{map[string]any{"email": "a@example.com", "listid": 1}, `{"error":402}`},
		{map[string]any{"email": "a@example.com", "listid": "x"}, `{"error":402}`},
		{map[string]any{"email": "a@example.com", "tagid": 1}, `{"error":403}`},
		{map[string]any{"email": "a@example.com", "fields": map[string]any{"fieldX": "1"}}, `{"error":8,"field_value":"1","name":"fieldX","reason":"is not a field of this account"}`},
		{map[string]any{"email": "a@example.com", "fields": map[string]any{"fieldLeadValue": "lots"}}, `{"error":8,"field":"Lead value","field_value":"lots","name":"fieldLeadValue","reason":"must be a numeric value"}`},
		{map[string]any{"email": "a@example.com", "fields": "x"}, `{"error":8}`},
	} {
		if status, _, body := w.do("POST", "/subscriber", tt.body, h); status != 406 || body != tt.want {
			t.Errorf("%v: %d %s, want 406 %s", tt.body, status, body, tt.want)
		}
	}
	// Form data, PHP style.
	form := url.Values{"email": {"bo@example.com"}, "fields[fieldCity]": {"Köln"}}
	if status, _, body := w.do("POST", "/subscriber", form, h); status != 200 || !strings.Contains(body, `"fieldCity":"Köln"`) {
		t.Fatalf("form subscribe: %d %s", status, body)
	}
	if bo, ok := w.srv.Subscriber("bo@example.com"); !ok || bo.Status != klicktipptest.StatusPending || bo.ListID != klicktipptest.DefaultListID {
		t.Fatalf("bo = %+v", bo)
	}
	// Tag, search.
	if status, _, body := w.do("POST", "/subscriber/tag", map[string]any{"email": "bo@example.com", "tagids": []any{17, "18"}}, h); status != 200 || body != "[true]" {
		t.Fatalf("tag: %d %s", status, body)
	}
	if status, _, body := w.do("POST", "/subscriber/tag", map[string]any{"email": "nobody@example.com", "tagids": []int{17}}, h); status != 406 || body != `{"error":7}` {
		t.Fatalf("tag unknown email: %d %s", status, body)
	}
	if status, _, body := w.do("POST", "/subscriber/search", map[string]any{"email": "BO@example.com"}, h); status != 200 || body != "[882]" {
		t.Fatalf("search: %d %s", status, body)
	}
	if status, _, body := w.do("POST", "/subscriber/search", map[string]any{"email": "x@example.com"}, h); status != 404 || body != `["There is no such entity."]` {
		t.Fatalf("search absent: %d %s", status, body)
	}
	if status, _, body := w.do("GET", "/nope", nil, h); status != 404 || !strings.HasPrefix(body, `"No route found for \"GET http://`) {
		t.Fatalf("unknown path: %d %s", status, body)
	}
	if status, _, body := w.do("POST", "/subscriber", "not an object", h); status != 400 {
		t.Fatalf("bad body: %d %s", status, body)
	}
}

func TestTagsFieldsListsShapes(t *testing.T) {
	t.Parallel()
	w := newWire(t)
	h := map[string]string{"Cookie": w.login()}
	if status, _, body := w.do("GET", "/tag", nil, h); status != 200 || body != `{"17":"customer","18":"vip","21":"newsletter"}` {
		t.Fatalf("tags: %d %s", status, body)
	}
	if status, _, body := w.do("POST", "/tag", map[string]string{"name": "new"}, h); status != 200 || body != "[22]" {
		t.Fatalf("create tag: %d %s", status, body)
	}
	if status, _, body := w.do("GET", "/list", nil, h); status != 200 || body != `{"122":"","123":"Newsletter signup","124":"Webinar"}` {
		t.Fatalf("lists: %d %s", status, body)
	}
	status, _, body := w.do("GET", "/field", nil, h)
	var fields map[string]string
	if status != 200 || json.Unmarshal([]byte(body), &fields) != nil || fields["fieldFirstName"] != "First name" || fields["field12345"] != "Customer number" {
		t.Fatalf("fields: %d %s", status, body)
	}
	w.srv.AddField("field777", "Shoe size")
	id := w.srv.AddList("Partners", true)
	if _, _, body := w.do("GET", "/list", nil, h); !strings.Contains(body, `"125":"Partners"`) || id != 125 {
		t.Fatalf("lists after AddList: %s", body)
	}
	if status, _, _ := w.do("POST", "/subscriber", map[string]any{"email": "c@example.com", "listid": id, "fields": map[string]string{"field777": "44"}}, h); status != 200 {
		t.Fatalf("subscribe with added list and field: %d", status)
	}
}

func TestRateLimitKeyedByCredential(t *testing.T) {
	t.Parallel()
	w := newWire(t, klicktipptest.WithRateLimit(apistest.RateLimit{Limit: 2, Window: time.Hour, Headers: true, RetryAfter: true}))
	p := map[string]string{"X-Un": klicktipptest.Username, "X-Ci": "wrong"}
	w.do("GET", "/tag", nil, p)
	w.do("GET", "/tag", nil, p)
	status, h, body := w.do("GET", "/tag", nil, p)
	if status != 429 || body != `["Too many requests."]` || h.Get("Retry-After") == "" || h.Get("X-RateLimit-Remaining") != "0" || h.Get("X-RateLimit-Reset") == "" {
		t.Fatalf("429 expected: %d %s %v", status, body, h)
	}
	// Another credential has its own window.
	if status, _, _ := w.do("GET", "/tag", nil, map[string]string{"X-Un": "other", "X-Ci": "x"}); status != 403 {
		t.Fatalf("other credential: %d", status)
	}
	if w.srv.RateLimited() != 1 {
		t.Fatalf("rejected %d", w.srv.RateLimited())
	}
}

func TestFaultsAndRecorder(t *testing.T) {
	t.Parallel()
	w := newWire(t)
	w.srv.SetFaults(apistest.Faults{FailRate: 1, FailStatus: 502}, 7)
	if status, _, body := w.do("GET", "/tag", nil, nil); status != 502 || body != `["Bad Gateway"]` {
		t.Fatalf("fail: %d %s", status, body)
	}
	w.srv.SetFaults(apistest.Faults{MalformedRate: 1}, 7)
	if status, _, body := w.do("GET", "/tag", nil, nil); status != 200 || json.Valid([]byte(body)) {
		t.Fatalf("malformed: %d %s", status, body)
	}
	w.srv.SetFaults(apistest.Faults{}, 0)
	if got := w.srv.FaultsInjected(); got["fail"] != 1 || got["malformed"] != 1 {
		t.Fatalf("injected %v", got)
	}
	if w.srv.Count("GET", "/tag") != 2 || w.srv.Requests()[0].Status != 502 {
		t.Fatalf("recorder: %d requests", w.srv.Count("GET", "/tag"))
	}
}

func TestStateHandler(t *testing.T) {
	t.Parallel()
	w := newWire(t)
	h := map[string]string{"Cookie": w.login()}
	w.do("POST", "/subscriber", map[string]any{"email": "ann@example.com", "tagid": 17}, h)
	rec := httptest.NewRecorder()
	w.srv.StateHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/sandbox/klicktipp/state", nil))
	if rec.Code != 200 {
		t.Fatalf("state: %d", rec.Code)
	}
	body := rec.Body.String()
	var st klicktipptest.State
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Subscribers) != 1 || st.Subscribers[0].Tags[0] != 17 || st.Logins != 1 || st.OpenSessions != 1 || st.Requests != 2 || st.Tags["21"] != "newsletter" {
		t.Fatalf("state %s", body)
	}
	sid := strings.TrimPrefix(h["Cookie"], klicktipptest.SessionName+"=")
	for _, secret := range []string{klicktipptest.Password, klicktipptest.DeveloperKey, klicktipptest.CustomerKey, sid} {
		if strings.Contains(body, secret) {
			t.Fatalf("state leaks %q", secret)
		}
	}
	rec = httptest.NewRecorder()
	w.srv.StateHandler().ServeHTTP(rec, httptest.NewRequest("POST", "/", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Fatalf("POST state: %d", rec.Code)
	}
}

func TestHandlerMountable(t *testing.T) {
	t.Parallel()
	srv := klicktipptest.NewServer()
	t.Cleanup(srv.Close)
	mux := http.NewServeMux()
	mux.Handle("/sandbox/klicktipp/", http.StripPrefix("/sandbox/klicktipp", srv.Handler()))
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("POST", "/sandbox/klicktipp/account/login",
		strings.NewReader(`{"username":"`+klicktipptest.Username+`","password":"`+klicktipptest.Password+`"}`)))
	if rec.Code != 200 || srv.Logins() != 1 {
		t.Fatalf("mounted login: %d %s", rec.Code, rec.Body)
	}
}

// TestModelledRoutes covers the documented routes beyond the upsert, the
// router's 405, multipart bodies, logging in twice, logging out when not
// logged in, and the German texts.
func TestModelledRoutes(t *testing.T) {
	t.Parallel()
	for _, lang := range []klicktipptest.Language{klicktipptest.English, klicktipptest.German} {
		w := newWire(t, klicktipptest.WithLanguage(lang))
		de := lang == klicktipptest.German
		pick := func(en, german string) string {
			if de {
				return german
			}
			return en
		}
		cookie := w.login()
		h := map[string]string{"Cookie": cookie}
		check := func(what string, status int, body string, wantStatus int, wantBody string) {
			t.Helper()
			if status != wantStatus || (wantBody != "" && body != wantBody) {
				t.Errorf("%v %s: %d %s, want %d %s", lang, what, status, body, wantStatus, wantBody)
			}
		}
		// multipart/form-data, PHP style.
		st, _, body := w.do("POST", "/subscriber", multipartForm{"email": "mp@example.com", "listid": "123", "fields[fieldCity]": "Köln"}, h)
		if st != 200 || !strings.Contains(body, `"fieldCity":"Köln"`) {
			t.Fatalf("multipart subscribe: %d %s", st, body)
		}
		id := "881"
		st, _, body = w.do("GET", "/subscriber/"+id, nil, h)
		check("get subscriber", st, "", 200, "")
		if !strings.Contains(body, `"email":"mp@example.com"`) {
			t.Errorf("get subscriber body %s", body)
		}
		st, _, body = w.do("GET", "/subscriber/999", nil, h)
		check("get unknown subscriber", st, body, 404, "")
		st, _, body = w.do("PUT", "/subscriber/"+id, map[string]any{"fields": map[string]any{"fieldLastName": "Ost"}}, h)
		check("update", st, body, 200, "[true]")
		st, _, body = w.do("PUT", "/subscriber/999", map[string]any{"fields": map[string]any{}}, h)
		check("update unknown", st, body, 406, `["`+pick("The subscriber does not exist.", "Der Kontakt existiert nicht.")+`"]`)
		st, _, body = w.do("POST", "/subscriber/tag", map[string]any{"email": "mp@example.com", "tagids": []int64{klicktipptest.TagVIP}}, h)
		check("tag", st, body, 200, "[true]")
		st, _, body = w.do("POST", "/subscriber/untag", map[string]any{"email": "mp@example.com", "tagid": klicktipptest.TagVIP}, h)
		check("untag", st, body, 200, "[true]")
		st, _, body = w.do("POST", "/subscriber/untag", map[string]any{"email": "x@example.com", "tagid": klicktipptest.TagVIP}, h)
		check("untag unknown email", st, body, 406, `{"error":7}`)
		st, _, body = w.do("POST", "/subscriber/unsubscribe", map[string]any{"email": "mp@example.com"}, h)
		check("unsubscribe", st, body, 200, "[true]")
		st, _, body = w.do("POST", "/subscriber/unsubscribe", map[string]any{"email": "mp@example.com"}, h)
		check("unsubscribe again", st, body, 406, `{"error":9}`)
		st, _, body = w.do("GET", "/tag/17", nil, h)
		check("get tag", st, body, 200, `{"name":"customer","tagid":"17","text":""}`)
		st, _, body = w.do("GET", "/tag/4242", nil, h)
		check("get unknown tag", st, body, 404, `["`+pick("There is no such entity.", "Kein Tag mit dieser ID.")+`"]`)
		st, _, body = w.do("POST", "/tag", map[string]any{"name": ""}, h)
		check("create empty tag", st, body, 406, `["`+pick("Tag could not be created.", "Tag konnte nicht erstellt werden.")+`"]`)
		st, _, body = w.do("POST", "/tag", map[string]any{"name": "VIP"}, h)
		check("create existing tag", st, body, 406, `["`+pick("Tag could not be created.", "Tag konnte nicht erstellt werden.")+`"]`)
		// The router's answer to a wrong method (php-client's TagTest).
		st, hdr, body := w.do("DELETE", "/tag", nil, h)
		check("wrong method", st, "", 405, "")
		if hdr.Get("Allow") != "GET, POST" || !strings.Contains(body, `Method Not Allowed (Allow: GET, POST)`) {
			t.Errorf("wrong method: Allow %q body %s", hdr.Get("Allow"), body)
		}
		// Logging in twice with the live session; denial; logout twice.
		st, _, body = w.do("POST", "/account/login", map[string]string{"username": klicktipptest.Username, "password": klicktipptest.Password}, h)
		check("login twice", st, body, 406, `["`+pick("You are already logged in.", "Sie sind bereits eingeloggt.")+`"]`)
		st, _, body = w.do("POST", "/account/login", map[string]string{"username": klicktipptest.Username, "password": "nope"}, nil)
		check("wrong login", st, body, 401, `["`+pick("Wrong username or password.", "Falscher Benutzername oder Passwort.")+`"]`)
		st, _, body = w.do("POST", "/account/logout", nil, h)
		check("logout", st, body, 200, "[true]")
		st, _, body = w.do("POST", "/account/logout", nil, h)
		check("logout twice", st, body, 406, `["`+pick("User not logged in.", "Benutzer nicht eingeloggt.")+`"]`)
		st, _, body = w.do("GET", "/tag", nil, h)
		check("denied", st, body, 403, `["`+pick("API access denied.", "API Zugriff verweigert")+`"]`)
	}
}
