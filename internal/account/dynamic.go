package account

import (
	"sort"
	"strconv"
	"sync"
)

// Dynamic is the accounts that come and go while the worker runs: those
// granted through partner onboarding, kept current by a watch of the
// accounts bucket. A Registry consults it (Config.Dynamic) for a name its
// static profiles (environment, ACCOUNTS_FILE) do not define; a static
// profile always wins. The zero value is empty and ready; it is safe for
// concurrent use.
type Dynamic struct {
	mu  sync.RWMutex
	m   map[string]dynamicEntry
	gen uint64
}

type dynamicEntry struct {
	p   Profile
	gen uint64 // bumped on every Set, so a replaced profile gets new clients
}

// Set adds account name or replaces its profile; jobs routed from now on
// use the new credentials.
func (d *Dynamic) Set(name string, p Profile) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.m == nil {
		d.m = map[string]dynamicEntry{}
	}
	d.gen++
	d.m[name] = dynamicEntry{p: p, gen: d.gen}
}

// Remove drops account name; its next job finds no credentials. It
// reports whether the name was there.
func (d *Dynamic) Remove(name string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.m[name]
	delete(d.m, name)
	return ok
}

// Get returns account name's profile.
func (d *Dynamic) Get(name string) (Profile, bool) {
	p, _, ok := d.get(name)
	return p, ok
}

func (d *Dynamic) get(name string) (Profile, uint64, bool) {
	if d == nil {
		return Profile{}, 0, false
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	e, ok := d.m[name]
	return e.p, e.gen, ok
}

// Names lists the accounts, sorted.
func (d *Dynamic) Names() []string {
	d.mu.RLock()
	defer d.mu.RUnlock()
	out := make([]string, 0, len(d.m))
	for n := range d.m {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// dynamicProfile returns the profile of account among the dynamic ones
// (consulted when no static profile has the name).
func (r *Registry) dynamicProfile(account string) (Profile, bool) {
	p, _, ok := r.cfg.Dynamic.get(account)
	return p, ok
}

// cacheKey is the handler cache key of account and api. A dynamic
// account's carries its generation, so a re-grant builds new clients and
// a revoked account's cached handler is never reached again. (Read before
// the profile, a key is never newer than the profile cached under it.)
func (r *Registry) cacheKey(account, api string) string {
	key := account + "/" + api
	if _, ok := r.cfg.Profiles[account]; ok {
		return key
	}
	if _, gen, ok := r.cfg.Dynamic.get(account); ok {
		return key + "#" + strconv.FormatUint(gen, 10)
	}
	return key
}
