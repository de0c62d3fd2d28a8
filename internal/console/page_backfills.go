package console

import (
	"encoding/csv"
	"net/http"
	"slices"
	"strings"

	"crmsync/internal/backfill"
)

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
