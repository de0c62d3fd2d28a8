package klipytest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"
)

// team holds one team's people by normalised email.
type team struct {
	name         string
	organisation string
	people       map[string]*person
}

type person struct {
	seq    int
	fields map[string]any
}

// reserved keys are set by the fake and never taken from a request.
var reserved = map[string]bool{"id": true, "created_at": true, "updated_at": true}

func normEmail(e string) string { return strings.ToLower(strings.TrimSpace(e)) }

// AddAPIKey adds (or replaces) a key while the server runs; see WithAPIKey.
func (s *Server) AddAPIKey(k APIKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addKeyLocked(k)
}

func (s *Server) addKey(k APIKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addKeyLocked(k)
}

func (s *Server) addKeyLocked(k APIKey) {
	if k.Team == "" {
		k.Team = DefaultTeam
	}
	if k.Organisation == "" {
		k.Organisation = DefaultOrganisation
	}
	s.keys[k.Key] = k
	if s.teams[k.Team] == nil {
		s.teams[k.Team] = &team{name: k.Team, organisation: k.Organisation, people: map[string]*person{}}
	}
}

// lookup returns the key's record; ok is false for an unknown key.
func (s *Server) lookup(key string) (APIKey, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.keys[key]
	return k, ok
}

// upsertPerson merges in into the team's person with in's email (email
// already validated), creating it if needed, and returns a copy of the
// stored person and whether it was created.
func (s *Server) upsertPerson(teamName string, in map[string]any) (map[string]any, bool) {
	email := strings.TrimSpace(in["email"].(string))
	now := s.now().UTC().Format(time.RFC3339)
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.teams[teamName]
	key := normEmail(email)
	p, exists := t.people[key]
	if !exists {
		s.seq++
		p = &person{seq: s.seq, fields: map[string]any{
			"id":         fmt.Sprintf("per_%06d", s.seq),
			"email":      email,
			"created_at": now,
		}}
		t.people[key] = p
	}
	for k, v := range in {
		if reserved[k] || k == "email" {
			continue
		}
		p.fields[k] = deepCopy(v)
	}
	p.fields["updated_at"] = now
	s.upsert++
	return copyFields(p.fields), !exists
}

// People returns copies of the people of DefaultTeam, in creation order.
// Each carries "id", "email", "created_at", "updated_at" and every other key
// sent for it.
func (s *Server) People() []map[string]any { return s.TeamPeople(DefaultTeam) }

// Person returns a copy of DefaultTeam's person with that email (matched
// case-insensitively), and whether there is one.
func (s *Server) Person(email string) (map[string]any, bool) {
	return s.TeamPerson(DefaultTeam, email)
}

// TeamPeople returns copies of a team's people, in creation order.
func (s *Server) TeamPeople(teamName string) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.teams[teamName]
	if t == nil {
		return nil
	}
	ps := make([]*person, 0, len(t.people))
	for _, p := range t.people {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].seq < ps[j].seq })
	out := make([]map[string]any, len(ps))
	for i, p := range ps {
		out[i] = copyFields(p.fields)
	}
	return out
}

// TeamPerson returns a copy of a team's person with that email, and whether
// there is one.
func (s *Server) TeamPerson(teamName, email string) (map[string]any, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.teams[teamName]
	if t == nil {
		return nil, false
	}
	p, ok := t.people[normEmail(email)]
	if !ok {
		return nil, false
	}
	return copyFields(p.fields), true
}

// Upserts returns how many PUT /people calls succeeded.
func (s *Server) Upserts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.upsert
}

// StateHandler serves GET → a JSON snapshot of the fake's state:
// {"teams":[{"name","organisation","people":[…]}],"requests":N,
// "upserts":N,"rateLimited":N,"faults":{…}}. Keys are never shown.
func (s *Server) StateHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		type teamState struct {
			Name         string           `json:"name"`
			Organisation string           `json:"organisation"`
			People       []map[string]any `json:"people"`
		}
		s.mu.Lock()
		names := make([]string, 0, len(s.teams))
		orgs := map[string]string{}
		for n, t := range s.teams {
			names = append(names, n)
			orgs[n] = t.organisation
		}
		s.mu.Unlock()
		sort.Strings(names)
		teams := make([]teamState, 0, len(names))
		for _, n := range names {
			ps := s.TeamPeople(n)
			if ps == nil {
				ps = []map[string]any{}
			}
			teams = append(teams, teamState{Name: n, Organisation: orgs[n], People: ps})
		}
		b, err := json.MarshalIndent(map[string]any{
			"teams":       teams,
			"requests":    s.Count("", ""),
			"upserts":     s.Upserts(),
			"rateLimited": s.RateLimited(),
			"faults":      s.FaultsInjected(),
		}, "", "  ")
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(append(b, '\n'))
	})
}

func copyFields(m map[string]any) map[string]any {
	return deepCopy(m).(map[string]any)
}

// deepCopy copies the maps and slices of a decoded JSON value.
func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = deepCopy(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = deepCopy(e)
		}
		return out
	}
	return v
}
