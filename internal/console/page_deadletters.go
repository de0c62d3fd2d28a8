package console

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"crmsync/internal/deadletter"
	"crmsync/internal/jobs"
)

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
	v.Nav, v.Title, v.Data, v.Refresh = "deadletters", "Dead letters", d, c.slowRefresh()
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

// maxReplay bounds the dead letters one POST replays (oldest first), so
// that the answer comes within the HTTP server's write timeout.
const maxReplay = 500

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
	// An action may take longer than a page's reads; the worker's HTTP
	// server gives a response 60 s.
	ctx, cancel := context.WithTimeout(r.Context(), 45*time.Second)
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
	left := 0
	if len(targets) > maxReplay {
		targets, left = targets[:maxReplay], len(targets)-maxReplay
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
	if left > 0 {
		v.Notice += " " + strconv.Itoa(left) + " more match: replay the set again for the next " + strconv.Itoa(min(left, maxReplay)) + "."
	}
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
