package limiter

import (
	"context"
	"net/http"
	"time"

	"crmsync/internal/apis"
)

// Joined is several budgets one request must fit in at once: a Klipy key's
// 200/min beside its organisation's 1,000/min, a ClickyID endpoint class's
// minute beside the key's hour. A request waits on each in turn. Make one
// with Join; it is safe for concurrent use and implements apis.Limiter.
type Joined struct {
	told   []*Limiter // waited on and told every answer
	silent []*Limiter // waited on only (AndBudget)
}

var _ apis.Limiter = (*Joined)(nil)

// Join returns the limiter of a request that must fit in each of ls; each
// is told every answer (a Limiter with Config.Window leaves answers about
// another window alone).
func Join(ls ...*Limiter) *Joined { return &Joined{told: ls} }

// AndBudget returns j with l added as a budget that is waited on but not
// told the answers: a budget the API's headers do not describe apart (a
// Klipy organisation's, whose 429 cannot be told from its key's).
func (j *Joined) AndBudget(l *Limiter) *Joined {
	return &Joined{told: j.told, silent: append(append([]*Limiter(nil), j.silent...), l)}
}

func (j *Joined) all() []*Limiter { return append(append([]*Limiter(nil), j.told...), j.silent...) }

// Wait waits on every budget in turn and returns the first error. When one
// of them would hold the request past its MaxWait already, it returns that
// one's *BlockedError before taking a token from any.
func (j *Joined) Wait(ctx context.Context) error {
	all := j.all()
	for _, l := range all {
		if d := l.Delay(); d > l.maxWait {
			now := l.clock.Now()
			return &BlockedError{API: l.api, Until: now.Add(d), Wait: d, Cause: l.cause()}
		}
	}
	for _, l := range all {
		if err := l.Wait(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Observe tells every budget but the silent ones the answer. An answer
// whose X-RateLimit-Window names none of their windows (the API changed its
// windows, or a proxy limits too) is taken by every one of them: a 429 is
// never left to a budget that does not exist.
func (j *Joined) Observe(status int, h http.Header) {
	claimed := false
	for _, l := range j.told {
		claimed = claimed || !l.foreign(h)
	}
	if !claimed {
		h = h.Clone()
		h.Del("X-RateLimit-Window")
	}
	for _, l := range j.told {
		l.Observe(status, h)
	}
}

// Delay is the longest Delay of the budgets.
func (j *Joined) Delay() (d time.Duration) {
	for _, l := range j.all() {
		d = max(d, l.Delay())
	}
	return d
}
