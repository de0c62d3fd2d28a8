package console

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"strings"
	"time"
)

// view is what every template gets.
type view struct {
	Title    string
	Nav      string // the menu entry to highlight
	CSRF     string
	Next     string
	Error    string // shown in a banner
	Notice   string // shown in a banner
	NoNATS   bool
	Open     bool // no password
	ReadOnly bool
	Refresh  int // seconds between live reloads; 0: none
	Now      time.Time
	Data     any
}

var funcs = template.FuncMap{
	"ts": func(t time.Time) string {
		if t.IsZero() {
			return "–"
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"clock": func(t time.Time) string {
		if t.IsZero() {
			return "–"
		}
		return t.UTC().Format("15:04:05Z")
	},
	"ago": func(now, t time.Time) string {
		if t.IsZero() {
			return "–"
		}
		return human(now.Sub(t))
	},
	"until": func(now, t time.Time) string { return human(t.Sub(now)) },
	"pct":   func(f float64) string { return fmt.Sprintf("%.0f %%", math.Floor(f*100)) },
	"num": func(f float64) string {
		if f == math.Trunc(f) {
			return fmt.Sprintf("%.0f", f)
		}
		return fmt.Sprintf("%.1f", f)
	},
	"join": strings.Join,
	"pretty": func(b []byte) string {
		var buf bytes.Buffer
		if json.Indent(&buf, b, "", "  ") == nil {
			return buf.String()
		}
		return string(b)
	},
	"add":   func(a, b int) int { return a + b },
	"deref": func(b *bool) bool { return b != nil && *b },
}

// human writes a duration the way people read it: 45s, 3m 20s, 2h 5m, 3d 4h.
func human(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	s := int64(d.Round(time.Second) / time.Second)
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm %02ds", s/60, s%60)
	case s < 86400:
		return fmt.Sprintf("%dh %02dm", s/3600, s%3600/60)
	}
	return fmt.Sprintf("%dd %dh", s/86400, s%86400/3600)
}

// parseTemplates builds one template set per page, each with the layout.
func parseTemplates() map[string]*template.Template {
	base := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html"))
	out := map[string]*template.Template{}
	pages, _ := templateFS.ReadDir("templates")
	for _, p := range pages {
		name := strings.TrimSuffix(p.Name(), ".html")
		if name == "layout" {
			continue
		}
		out[name] = template.Must(template.Must(base.Clone()).ParseFS(templateFS, "templates/"+p.Name()))
	}
	return out
}

// render writes page name with v, filling the common fields.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, v *view) {
	if s, ok := c.sessionOf(r); ok {
		v.CSRF = cmp.Or(v.CSRF, c.csrf(s))
	}
	v.Open, v.ReadOnly, v.Now = c.open, c.cfg.ReadOnly, time.Now()
	if v.Nav == "" {
		v.Nav = name
	}
	var buf bytes.Buffer
	if err := c.tmpl[name].ExecuteTemplate(&buf, "layout.html", v); err != nil {
		c.log.Error("console: rendering page", "page", name, "err", err)
		http.Error(w, "console: rendering "+name+" failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// page wraps a read-only page handler: a session, and NATS (or a page
// saying it is not connected yet).
func (c *Console) page(h func(w http.ResponseWriter, r *http.Request, v *view) (string, int)) http.Handler {
	return c.authed(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := &view{}
		if c.jetStream() == nil {
			v.Title, v.NoNATS, v.Refresh = "Waiting for NATS", true, int(c.cfg.Refresh.Seconds())
			c.render(w, r, http.StatusServiceUnavailable, "error", v)
			return
		}
		name, status := h(w, r, v)
		if name == "" {
			return // h wrote the response
		}
		c.render(w, r, status, name, v)
	}))
}
