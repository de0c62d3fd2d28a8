package console

import (
	"net/http"
	"strconv"
)

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
