package jobs

import (
	"encoding/json"
	"slices"
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
// The bytes are json.Marshal's (see appendJSON); the head is encoded once
// and each item at most twice (for the whole, once more when it must be
// split); the parts are assembled from those bytes. It returns
// json.Marshal's error for a time it cannot encode.
func (r *Result) split(limit int) ([][]byte, error) {
	s := getScratch()
	defer putScratch(s)
	buf, err := r.appendHead((*s)[:0])
	if err != nil {
		*s = buf
		_, err = json.Marshal(r)
		return nil, err
	}
	head := len(buf) // through `"items":`
	buf = r.appendItems(buf)
	buf = r.appendTail(buf, r.Part, r.Parts)
	*s = buf
	if len(buf) <= limit || len(r.Items) <= 1 {
		return [][]byte{slices.Clone(buf)}, nil
	}
	// Estimate items per part from the average item size, then shrink
	// until every part fits.
	per := len(r.Items) * limit / len(buf) * 9 / 10

	// buf becomes the head, '[', then the items separated by commas;
	// item i ends at ends[i], and begins at from(i).
	buf = append(buf[:head], '[')
	ends := make([]int, len(r.Items))
	for i := range r.Items {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = r.Items[i].appendJSON(buf)
		ends[i] = len(buf)
	}
	*s = buf
	from := func(i int) int {
		if i == 0 {
			return head + 1
		}
		return ends[i-1] + 1
	}
	var tail []byte
	for per = max(per, 1); ; per = max(per/2, 1) {
		parts := (len(r.Items) + per - 1) / per
		fits := true
		for p := 0; p < parts && per > 1; p++ {
			a, c := p*per, min((p+1)*per, len(r.Items))
			tail = r.appendTail(tail[:0], p+1, parts)
			if head+1+ends[c-1]-from(a)+1+len(tail) > limit {
				fits = false
				break
			}
		}
		if !fits {
			continue
		}
		out := make([][]byte, parts)
		for p := range out {
			a, c := p*per, min((p+1)*per, len(r.Items))
			tail = r.appendTail(tail[:0], p+1, parts)
			b := make([]byte, 0, head+1+ends[c-1]-from(a)+1+len(tail))
			b = append(b, buf[:head]...)
			b = append(b, '[')
			b = append(b, buf[from(a):ends[c-1]]...)
			b = append(b, ']')
			out[p] = append(b, tail...)
		}
		return out, nil
	}
}
