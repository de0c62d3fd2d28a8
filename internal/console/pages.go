package console

import (
	"cmp"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"crmsync/internal/backfill"
	"crmsync/internal/deadletter"
	"crmsync/internal/jobs"
)

// maxShown bounds the rows of a long list on a page (the CSV has all).
const maxShown = 500

// overviewData is the Overview page.
type overviewData struct {
	Replicas   []Replica
	Streams    StreamCounts
	Throughput *Throughput
	Rows       []credentialRow
	Lanes      []Lane
	Errors     []string
}

// credentialRow is one API and account on the Overview.
type credentialRow struct {
	API, Account string
	Lanes        int
	Pending      uint64
	InFlight     int
	Oldest       time.Time
	Limit        *Limit
	Counts       Counts
}

func (c *Console) overview(_ http.ResponseWriter, r *http.Request, v *view) (string, int) {
	ctx, cancel := c.ctx(r)
	defer cancel()
	js := c.jetStream()
	now := time.Now()
	d := &overviewData{}
	note := func(err error) {
		if err != nil {
			d.Errors = append(d.Errors, err.Error())
		}
	}
	var err error
	d.Replicas, err = Replicas(ctx, js)
	note(err)
	d.Streams, err = Streams(ctx, js)
	note(err)
	d.Throughput, err = ThroughputSince(ctx, js, now.Add(-time.Minute))
	note(err)
	d.Lanes, err = Lanes(ctx, js)
	note(err)
	var creds []Credential
	if c.cfg.Credentials != nil {
		creds = c.cfg.Credentials()
	}
	limits, err := Limits(ctx, js, creds, now)
	note(err)

	rows := map[APIAccount]*credentialRow{}
	row := func(api, account string) *credentialRow {
		k := APIAccount{api, account}
		if rows[k] == nil {
			rows[k] = &credentialRow{API: api, Account: account}
		}
		return rows[k]
	}
	for _, cr := range creds {
		for _, a := range cr.Accounts {
			row(cr.API, a)
		}
	}
	for _, ln := range d.Lanes {
		if ln.API == "" || ln.Account == "" {
			continue
		}
		rw := row(ln.API, ln.Account)
		rw.Lanes++
		rw.Pending += ln.Pending
		rw.InFlight += ln.InFlight
		if !ln.Oldest.IsZero() && (rw.Oldest.IsZero() || ln.Oldest.Before(rw.Oldest)) {
			rw.Oldest = ln.Oldest
		}
	}
	for i := range limits {
		l := &limits[i]
		accts := l.Accounts
		if len(accts) == 0 {
			accts = []string{"credential " + l.ID}
		}
		for _, a := range accts {
			row(l.API, a).Limit = l
		}
	}
	for k, n := range d.Throughput.By {
		row(k.API, k.Account).Counts = *n
	}
	for _, rw := range rows {
		d.Rows = append(d.Rows, *rw)
	}
	slices.SortFunc(d.Rows, func(a, b credentialRow) int {
		return cmp.Or(cmp.Compare(a.API, b.API), cmp.Compare(a.Account, b.Account))
	})
	v.Title, v.Data, v.Refresh = "Overview", d, int(c.cfg.Refresh.Seconds())
	return "overview", http.StatusOK
}

func (c *Console) backfills(_ http.ResponseWriter, r *http.Request, v *view) (string, int) {
	ctx, cancel := c.ctx(r)
	defer cancel()
	bs, err := c.index.backfills(ctx, c.jetStream())
	if err != nil {
		v.Error = "Reading backfills: " + err.Error()
	}
	v.Title, v.Data, v.Refresh = "Backfills", bs, int(c.cfg.Refresh.Seconds())
	return "backfills", http.StatusOK
}

// backfillData is one backfill's page.
type backfillData struct {
	Backfill Backfill
	Failed   []FailedItem
	More     int // failed items not shown
}

func (c *Console) backfill(_ http.ResponseWriter, r *http.Request, v *view) (string, int) {
	ctx, cancel := c.ctx(r)
	defer cancel()
	id := r.PathValue("id")
	v.Nav, v.Title = "backfills", "Backfill "+id
	if backfill.CheckID(id) != nil {
		v.Error = "Not a backfill id: " + id
		return "error", http.StatusBadRequest
	}
	bs, err := c.index.backfills(ctx, c.jetStream())
	if err != nil {
		v.Error = "Reading backfills: " + err.Error()
		return "error", http.StatusBadGateway
	}
	i := slices.IndexFunc(bs, func(b Backfill) bool { return b.Record.ID == id })
	if i < 0 {
		v.Error = "No record of backfill " + id + " in " + backfill.RecordBucket + " (enqueued by another publisher, or older than RESULTS_MAX_AGE)."
		return "error", http.StatusNotFound
	}
	failed, err := FailedItems(ctx, c.jetStream(), id)
	if err != nil {
		v.Error = "Reading failed items: " + err.Error()
	}
	d := &backfillData{Backfill: bs[i], Failed: failed}
	if len(failed) > maxShown {
		d.Failed, d.More = failed[:maxShown], len(failed)-maxShown
	}
	v.Data, v.Refresh = d, int(c.cfg.Refresh.Seconds())
	return "backfill", http.StatusOK
}

func (c *Console) failedCSV(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if backfill.CheckID(id) != nil {
		http.Error(w, "not a backfill id", http.StatusBadRequest)
		return
	}
	js := c.jetStream()
	if js == nil {
		http.Error(w, "NATS not connected yet", http.StatusServiceUnavailable)
		return
	}
	ctx, cancel := c.ctx(r)
	defer cancel()
	items, err := FailedItems(ctx, js, id)
	if err != nil {
		http.Error(w, "reading failed items: "+err.Error(), http.StatusBadGateway)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+id+`-failed.csv"`)
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"email", "reason", "job"})
	for _, it := range items {
		_ = cw.Write([]string{csvSafe(it.Email), csvSafe(it.Reason), it.Job})
	}
	cw.Flush()
}

// csvSafe keeps a spreadsheet from reading a cell as a formula.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func (c *Console) jobSearch(w http.ResponseWriter, r *http.Request, v *view) (string, int) {
	if id := strings.TrimSpace(r.URL.Query().Get("id")); id != "" {
		http.Redirect(w, r, Prefix+"jobs/"+url.PathEscape(id), http.StatusSeeOther)
		return "", 0
	}
	v.Title = "Job"
	return "jobsearch", http.StatusOK
}

func (c *Console) job(_ http.ResponseWriter, r *http.Request, v *view) (string, int) {
	ctx, cancel := c.ctx(r)
	defer cancel()
	id := r.PathValue("id")
	v.Nav, v.Title = "jobsearch", "Job "+id
	jv, err := FindJob(ctx, c.jetStream(), id)
	if err != nil {
		v.Error = "Reading job " + id + ": " + err.Error()
	}
	v.Data, v.Refresh = jv, int(c.cfg.Refresh.Seconds())
	return "job", http.StatusOK
}

// letterFilter selects dead letters.
type letterFilter struct {
	Kind    string // contact.upsert, email.validate, invalid, or "" for all
	Account string
	Reason  string // a substring, case-insensitive
}

func filterOf(form url.Values) letterFilter {
	return letterFilter{Kind: strings.TrimSpace(form.Get("kind")), Account: strings.TrimSpace(form.Get("account")),
		Reason: strings.TrimSpace(form.Get("reason"))}
}

func (f letterFilter) Empty() bool { return f == letterFilter{} }

// Query is the filter as URL query parameters.
func (f letterFilter) Query() string {
	q := url.Values{}
	for k, v := range map[string]string{"kind": f.Kind, "account": f.Account, "reason": f.Reason} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q.Encode()
}

// letterRow is a dead letter with its account read from its body.
type letterRow struct {
	deadletter.Letter
	Kind    string
	Account string
}

func rowOf(l deadletter.Letter) letterRow {
	var env struct {
		Account string `json:"account"`
	}
	_ = json.Unmarshal(l.Data, &env)
	return letterRow{Letter: l, Kind: strings.TrimPrefix(l.Subject, jobs.DLQPrefix), Account: cmp.Or(env.Account, jobs.DefaultAccount)}
}

func (f letterFilter) match(l letterRow) bool {
	return (f.Kind == "" || l.Kind == f.Kind) && (f.Account == "" || l.Account == f.Account) &&
		(f.Reason == "" || strings.Contains(strings.ToLower(l.Reason), strings.ToLower(f.Reason)))
}

// matching returns the dead letters f selects, oldest first.
func (c *Console) matching(ctx context.Context, f letterFilter) ([]letterRow, error) {
	var out []letterRow
	err := deadletter.Each(ctx, c.jetStream(), func(l deadletter.Letter) error {
		if row := rowOf(l); f.match(row) {
			out = append(out, row)
		}
		return nil
	})
	return out, err
}

// lettersData is the Dead letters page.
type lettersData struct {
	Filter  letterFilter
	Letters []letterRow
	Total   int // matching
	Kinds   []string
}

func (c *Console) deadLetters(_ http.ResponseWriter, r *http.Request, v *view) (string, int) {
	ctx, cancel := c.ctx(r)
	defer cancel()
	f := filterOf(r.URL.Query())
	ls, err := c.matching(ctx, f)
	if err != nil {
		v.Error = "Reading dead letters: " + err.Error()
	}
	slices.Reverse(ls) // newest first
	d := &lettersData{Filter: f, Total: len(ls), Letters: ls,
		Kinds: []string{string(jobs.KindContactUpsert), string(jobs.KindEmailValidate), "invalid"}}
	if len(ls) > maxShown {
		d.Letters = ls[:maxShown]
	}
	v.Nav, v.Title, v.Data, v.Refresh = "deadletters", "Dead letters", d, int(c.cfg.Refresh.Seconds())
	return "deadletters", http.StatusOK
}

func (c *Console) deadLetter(_ http.ResponseWriter, r *http.Request, v *view) (string, int) {
	ctx, cancel := c.ctx(r)
	defer cancel()
	v.Nav = "deadletters"
	seq, err := strconv.ParseUint(r.PathValue("seq"), 10, 64)
	if err != nil || seq == 0 {
		v.Title, v.Error = "Dead letter", "Not a sequence number: "+r.PathValue("seq")
		return "error", http.StatusBadRequest
	}
	l, err := deadletter.Get(ctx, c.jetStream(), seq)
	if err != nil {
		v.Title = "Dead letter " + strconv.FormatUint(seq, 10)
		if errors.Is(err, deadletter.ErrNotFound) {
			v.Error = "No dead letter at sequence " + strconv.FormatUint(seq, 10) + " (replayed, purged or expired)."
			return "error", http.StatusNotFound
		}
		v.Error = "Reading the dead letter: " + err.Error()
		return "error", http.StatusBadGateway
	}
	keys := make([]string, 0, len(l.Header))
	for k := range l.Header {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	v.Title, v.Data = "Dead letter "+strconv.FormatUint(seq, 10), struct {
		L    letterRow
		Keys []string
	}{rowOf(l), keys}
	return "deadletter", http.StatusOK
}

// confirmData is a confirmation page: what will happen, and the form
// that does it.
type confirmData struct {
	Action  string // replay, purge, revoke
	Path    string // where the form posts
	Fields  map[string]string
	What    string
	Letters []letterRow
	Count   int
	Back    string
}

func (c *Console) confirm(_ http.ResponseWriter, r *http.Request, v *view) (string, int) {
	ctx, cancel := c.ctx(r)
	defer cancel()
	q := r.URL.Query()
	v.Nav, v.Title = "deadletters", "Confirm"
	if c.cfg.ReadOnly {
		v.Error = "This console is read-only (CONSOLE_READ_ONLY)."
		return "error", http.StatusForbidden
	}
	d := &confirmData{Action: q.Get("action"), Fields: map[string]string{}, Back: Prefix + "dlq"}
	switch d.Action {
	case "replay":
		d.Path = Prefix + "dlq/replay"
		if s := q.Get("seq"); s != "" {
			seq, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				v.Error = "Not a sequence number: " + s
				return "error", http.StatusBadRequest
			}
			l, err := deadletter.Get(ctx, c.jetStream(), seq)
			if err != nil {
				v.Error = err.Error()
				return "error", http.StatusNotFound
			}
			d.Letters, d.Count, d.Fields["seq"] = []letterRow{rowOf(l)}, 1, s
			d.What, d.Back = "Replay dead letter "+s+" to "+l.OriginalSubject+"?", Prefix+"dlq/"+s
			break
		}
		f := filterOf(q)
		ls, err := c.matching(ctx, f)
		if err != nil {
			v.Error = "Reading dead letters: " + err.Error()
			return "error", http.StatusBadGateway
		}
		d.Fields["kind"], d.Fields["account"], d.Fields["reason"], d.Fields["set"] = f.Kind, f.Account, f.Reason, "1"
		d.Letters, d.Count = ls, len(ls)
		d.What = "Replay these " + strconv.Itoa(len(ls)) + " dead letters to the subjects they came from?"
		if !f.Empty() {
			d.Back += "?" + f.Query()
		}
	case "purge":
		d.Path = Prefix + "dlq/purge"
		ls, err := c.matching(ctx, letterFilter{})
		if err != nil {
			v.Error = "Reading dead letters: " + err.Error()
			return "error", http.StatusBadGateway
		}
		d.Count = len(ls)
		d.What = "Delete all " + strconv.Itoa(len(ls)) + " dead letters for good? This cannot be undone."
	default:
		v.Error = "Unknown action " + strconv.Quote(d.Action)
		return "error", http.StatusBadRequest
	}
	if len(d.Letters) > maxShown {
		d.Letters = d.Letters[:maxShown]
	}
	v.Data = d
	return "confirm", http.StatusOK
}

// replayedRow is one replay's outcome.
type replayedRow struct {
	Seq   uint64
	JobID string
	deadletter.Replayed
	Err string
}

func (c *Console) replay(w http.ResponseWriter, r *http.Request) {
	v := &view{Nav: "deadletters", Title: "Replayed"}
	js := c.jetStream()
	if js == nil {
		v.NoNATS = true
		c.render(w, r, http.StatusServiceUnavailable, "error", v)
		return
	}
	ctx, cancel := c.ctx(r)
	defer cancel()
	var targets []letterRow
	if s := r.PostFormValue("seq"); s != "" {
		seq, err := strconv.ParseUint(s, 10, 64)
		if err != nil || seq == 0 {
			v.Error = "Not a sequence number: " + s
			c.render(w, r, http.StatusBadRequest, "error", v)
			return
		}
		l, err := deadletter.Get(ctx, js, seq)
		if err != nil {
			c.audit(r, "dlq replay", "failed", "seq", seq, "err", err.Error())
			v.Error = "Not replayed: " + err.Error()
			c.render(w, r, http.StatusNotFound, "error", v)
			return
		}
		targets = []letterRow{rowOf(l)}
	} else if r.PostFormValue("set") == "1" {
		ls, err := c.matching(ctx, filterOf(r.PostForm))
		if err != nil {
			v.Error = "Reading dead letters: " + err.Error()
			c.render(w, r, http.StatusBadGateway, "error", v)
			return
		}
		targets = ls
	} else {
		v.Error = "Nothing to replay: give a sequence or a filtered set."
		c.render(w, r, http.StatusBadRequest, "error", v)
		return
	}
	var out []replayedRow
	failed := 0
	for _, l := range targets {
		rp, err := deadletter.Replay(ctx, js, l.Seq)
		row := replayedRow{Seq: l.Seq, JobID: l.JobID, Replayed: rp}
		if err != nil {
			failed++
			row.Err = err.Error()
			c.audit(r, "dlq replay", "failed", "seq", l.Seq, "job", l.JobID, "err", err.Error())
		} else {
			c.audit(r, "dlq replay", "ok", "seq", l.Seq, "job", l.JobID, "subject", rp.Subject, "msg_id", rp.MsgID, "duplicate", rp.Duplicate)
		}
		out = append(out, row)
	}
	v.Notice = strconv.Itoa(len(out)-failed) + " of " + strconv.Itoa(len(out)) + " dead letters replayed."
	v.Data = out
	status := http.StatusOK
	if failed > 0 {
		status = http.StatusBadGateway
	}
	c.render(w, r, status, "replayed", v)
}

func (c *Console) purge(w http.ResponseWriter, r *http.Request) {
	v := &view{Nav: "deadletters", Title: "Purged"}
	js := c.jetStream()
	if js == nil {
		v.NoNATS = true
		c.render(w, r, http.StatusServiceUnavailable, "error", v)
		return
	}
	ctx, cancel := c.ctx(r)
	defer cancel()
	n, err := deadletter.Purge(ctx, js)
	if err != nil {
		c.audit(r, "dlq purge", "failed", "err", err.Error())
		v.Error = "Not purged: " + err.Error()
		c.render(w, r, http.StatusBadGateway, "error", v)
		return
	}
	c.audit(r, "dlq purge", "ok", "purged", n)
	v.Notice = "Purged " + strconv.FormatUint(n, 10) + " dead letters."
	c.render(w, r, http.StatusOK, "error", v)
}

func (c *Console) accounts(_ http.ResponseWriter, r *http.Request, v *view) (string, int) {
	ctx, cancel := c.ctx(r)
	defer cancel()
	var as []Account
	if c.cfg.Accounts != nil {
		var err error
		if as, err = c.cfg.Accounts.Accounts(ctx); err != nil {
			v.Error = "Reading accounts: " + err.Error()
		}
	}
	for i := range as {
		as[i].Revoke = as[i].Revoke && c.cfg.Revoker != nil && !c.cfg.ReadOnly
	}
	v.Title, v.Data = "Accounts", as
	return "accounts", http.StatusOK
}

func (c *Console) confirmRevoke(_ http.ResponseWriter, r *http.Request, v *view) (string, int) {
	v.Nav, v.Title = "accounts", "Confirm"
	name := r.URL.Query().Get("name")
	if c.cfg.Revoker == nil || c.cfg.ReadOnly {
		v.Error = "Revoking is not available here (no onboarding store, or CONSOLE_READ_ONLY)."
		return "error", http.StatusForbidden
	}
	v.Data = &confirmData{Action: "revoke", Path: Prefix + "accounts/revoke", Fields: map[string]string{"name": name},
		What: "Revoke account " + strconv.Quote(name) + "? Its jobs will be dead-lettered until it is granted again.", Back: Prefix + "accounts"}
	return "confirm", http.StatusOK
}

func (c *Console) revoke(w http.ResponseWriter, r *http.Request) {
	v := &view{Nav: "accounts", Title: "Revoked"}
	name := r.PostFormValue("name")
	if c.cfg.Revoker == nil {
		v.Error = "Revoking is not available here (no onboarding store)."
		c.render(w, r, http.StatusForbidden, "error", v)
		return
	}
	ctx, cancel := c.ctx(r)
	defer cancel()
	if err := c.cfg.Revoker.Revoke(ctx, name); err != nil {
		c.audit(r, "account revoke", "failed", "account", name, "err", err.Error())
		v.Error = "Not revoked: " + err.Error()
		c.render(w, r, http.StatusBadGateway, "error", v)
		return
	}
	c.audit(r, "account revoke", "ok", "account", name)
	v.Notice = "Account " + strconv.Quote(name) + " revoked."
	c.render(w, r, http.StatusOK, "error", v)
}
