package limiter

import "time"

// state is what limits one credential, and the value kept in the KV bucket:
// the fleet's token bucket as a GCRA theoretical arrival time, the block the
// API imposed, and the pacing of the API's current window. Every field only
// moves forward (later times, or fewer requests left in the same window), so
// two states join without losing a block or a spent token, whatever order
// updates arrive in.
type state struct {
	TAT        int64  `json:"tat,omitempty"`         // Unix ns; GCRA theoretical arrival time (shared mode only)
	BlockUntil int64  `json:"block_until,omitempty"` // Unix ns; no request before this
	Cause      string `json:"cause,omitempty"`       // why BlockUntil was set
	PaceReset  int64  `json:"pace_reset,omitempty"`  // Unix ns; end of the API's current window
	PaceLeft   int64  `json:"pace_left,omitempty"`   // requests left in that window
	PaceNext   int64  `json:"pace_next,omitempty"`   // Unix ns; next paced request
	LiveUntil  int64  `json:"live_until,omitempty"`  // Unix ns; a live request waits for a token until about then: backfill requests hold off
}

// join returns the least state that is at least as restrictive as a and b.
func join(a, b state) state {
	r := a
	r.TAT = max(a.TAT, b.TAT)
	r.LiveUntil = max(a.LiveUntil, b.LiveUntil)
	if b.BlockUntil > a.BlockUntil {
		r.BlockUntil, r.Cause = b.BlockUntil, b.Cause
	}
	switch {
	case b.PaceReset > a.PaceReset:
		r.PaceReset, r.PaceLeft, r.PaceNext = b.PaceReset, b.PaceLeft, b.PaceNext
	case b.PaceReset == a.PaceReset:
		r.PaceLeft = min(a.PaceLeft, b.PaceLeft)
		r.PaceNext = max(a.PaceNext, b.PaceNext)
	}
	return r
}

// taken returns s after one request granted at now: the fleet bucket
// advanced by tokens intervals (0 when not shared; more than one for a lease,
// see Limiter.leaseSizeLocked) and one request of the paced window spent,
// the next one spread evenly over what is left of it.
func (s state) taken(now time.Time, interval time.Duration, tokens int) state {
	n := now.UnixNano()
	if tokens > 0 {
		s.TAT = max(s.TAT, n) + int64(tokens)*int64(interval)
	}
	if s.PaceReset > n && s.PaceLeft > 0 {
		s.PaceNext = n + (s.PaceReset-n)/s.PaceLeft
		s.PaceLeft--
	}
	return s
}

func unixNano(ns int64) time.Time { return time.Unix(0, ns) }
