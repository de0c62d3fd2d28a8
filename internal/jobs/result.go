package jobs

import (
	"encoding/json"
	"time"
)

// Result statuses.
const (
	StatusSucceeded = "succeeded"
	StatusPartial   = "partial" // some items failed for good
	StatusFailed    = "failed"  // every item failed, or the job was dead-lettered
)

// Result is published once per finished job on crmsync.results.<kind>.
type Result struct {
	ID       string       `json:"id"`
	Kind     Kind         `json:"kind"`
	Target   string       `json:"target,omitempty"`
	Account  string       `json:"account,omitempty"`
	Status   string       `json:"status"`
	Attempt  int          `json:"attempt"`
	Started  time.Time    `json:"started"`
	Finished time.Time    `json:"finished"`
	Counts   Counts       `json:"counts"`
	Items    []ItemResult `json:"items"`
	// Error is set when the job was dead-lettered: why.
	Error string `json:"error,omitempty"`
	// DeadLettered is true when the message went to the dead-letter stream.
	DeadLettered bool `json:"deadLettered,omitempty"`
	// Part and Parts number the pieces of a result too large for one
	// message (1-based); both are zero when it was not split.
	Part  int `json:"part,omitempty"`
	Parts int `json:"parts,omitempty"`
}

// Counts sums the items of a job.
type Counts struct {
	Total     int `json:"total"`
	Succeeded int `json:"succeeded"`
	Failed    int `json:"failed"`
}

// ItemResult is the outcome of one item.
type ItemResult struct {
	Email string `json:"email"`
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`

	// contact.upsert
	SubscriberID string `json:"subscriberId,omitempty"` // KlickTipp
	PersonID     string `json:"personId,omitempty"`     // Klipy

	// email.validate, as ClickyID returned them
	IsValid       *bool  `json:"isValid,omitempty"`
	Reason        string `json:"reason,omitempty"`
	MatchedDomain string `json:"matchedDomain,omitempty"`
	TargetGroup   string `json:"targetGroup,omitempty"`
}

// finish fills Counts and Status from Items.
func (r *Result) finish() {
	r.Counts = Counts{Total: len(r.Items)}
	for _, it := range r.Items {
		if it.OK {
			r.Counts.Succeeded++
		} else {
			r.Counts.Failed++
		}
	}
	switch {
	case r.DeadLettered || r.Counts.Succeeded == 0:
		r.Status = StatusFailed
	case r.Counts.Failed > 0:
		r.Status = StatusPartial
	default:
		r.Status = StatusSucceeded
	}
}

// split encodes r into one or more messages of at most limit bytes each.
// Every part carries the whole job's Counts and Status and a slice of Items.
func (r *Result) split(limit int) ([][]byte, error) {
	one, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	if len(one) <= limit || len(r.Items) <= 1 {
		return [][]byte{one}, nil
	}
	// Estimate items per part from the average item size, then shrink
	// until every part fits.
	per := len(r.Items) * limit / len(one) * 9 / 10
	for per = max(per, 1); ; per = max(per/2, 1) {
		var out [][]byte
		fits := true
		parts := (len(r.Items) + per - 1) / per
		for p := 0; p < parts; p++ {
			cp := *r
			cp.Items = r.Items[p*per : min((p+1)*per, len(r.Items))]
			cp.Part, cp.Parts = p+1, parts
			b, err := json.Marshal(&cp)
			if err != nil {
				return nil, err
			}
			if len(b) > limit && per > 1 {
				fits = false
				break
			}
			out = append(out, b)
		}
		if fits {
			return out, nil
		}
	}
}
