package console

import (
	"cmp"
	"net/http"
	"slices"
	"time"
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
