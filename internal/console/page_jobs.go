package console

import (
	"net/http"
	"net/url"
	"strings"
)

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
	v.Data = jv
	if jv.Latest() == nil || len(jv.Queued) > 0 {
		v.Refresh = c.slowRefresh() // not finished yet
	}
	return "job", http.StatusOK
}
