package backfill

import (
	"fmt"
	"sync"

	"crmsync/internal/jobs"
)

// Job is one built job message.
type Job struct {
	N     int    // 1-based number in the backfill
	ID    string // envelope id and Nats-Msg-Id
	Data  []byte // the envelope
	Items int
}

// Chunker packs items into job envelopes of at most Spec.Batch items and
// Spec.MaxBytes bytes. It is not safe for concurrent use.
type Chunker struct {
	id       string
	head     []byte // after the id: ","kind":...,"contacts":[
	tail     []byte // "]}"
	maxItems int
	maxBytes int

	buf     []byte
	n       int // items in buf
	seq     int // jobs built
	lastLen int
}

// NewChunker builds jobs for backfill id from spec's settings.
func NewChunker(id string, spec Spec) *Chunker {
	spec = spec.WithDefaults()
	h := []byte(`","kind":`)
	h = appendString(h, string(spec.Kind))
	if spec.Kind == jobs.KindContactUpsert {
		h = append(h, `,"target":`...)
		h = appendString(h, spec.Target)
	}
	h = append(h, `,"account":`...)
	h = appendString(h, spec.Account)
	if spec.Kind == jobs.KindEmailValidate {
		h = appendList(append(h, `,"targetGroupIds":`...), spec.TargetGroupIDs)
		h = appendList(append(h, `,"offerIds":`...), spec.OfferIDs)
		h = appendString(append(h, `,"mode":`...), spec.Mode)
		h = append(h, `,"emails":[`...)
	} else {
		h = append(h, `,"contacts":[`...)
	}
	return &Chunker{id: id, head: h, tail: []byte("]}"), maxItems: spec.Batch, maxBytes: spec.MaxBytes}
}

func appendList(b []byte, l []string) []byte {
	b = append(b, '[')
	for i, s := range l {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, s)
	}
	return append(b, ']')
}

// overhead is the envelope's size without items, for the longest job id.
func (c *Chunker) overhead() int {
	return len(`{"id":`) + jobIDLen(c.id, c.seq+1) + 2 + len(c.head) + len(c.tail)
}

// Fits reports why item can never fit in a job, or "".
func (c *Chunker) Fits(item []byte) string {
	if c.overhead()+len(item)+8 > c.maxBytes {
		return fmt.Sprintf("row makes an item of %d bytes; a job holds at most %d bytes (WORKER_MAX_JOB_BYTES, or the NATS server's max_payload less %d for headers)", len(item), c.maxBytes, HeaderAllowance)
	}
	return ""
}

// Add appends item (which must pass Fits) and returns the job that was
// completed to make room for it, if any.
func (c *Chunker) Add(item []byte) *Job {
	var done *Job
	if c.n > 0 && (c.n >= c.maxItems || len(c.buf)+1+len(item)+len(c.tail) > c.maxBytes) {
		done = c.Flush()
	}
	if c.n == 0 {
		c.seq++
		c.buf = jobBuffer(c.capHint())
		c.buf = append(c.buf, `{"id":"`...)
		c.buf = appendJobID(c.buf, c.id, c.seq)
		c.buf = append(c.buf, c.head...)
	} else {
		c.buf = append(c.buf, ',')
	}
	c.buf = append(c.buf, item...)
	c.n++
	return done
}

// capHint guesses a job's size from the last one, to allocate once.
func (c *Chunker) capHint() int { return min(max(c.lastLen+c.lastLen/8, 4<<10), c.maxBytes+64) }

// Flush returns the job being built, or nil when it is empty.
func (c *Chunker) Flush() *Job {
	if c.n == 0 {
		return nil
	}
	c.buf = append(c.buf, c.tail...)
	j := &Job{N: c.seq, ID: JobID(c.id, c.seq), Data: c.buf, Items: c.n}
	c.lastLen = len(c.buf)
	c.buf, c.n = nil, 0
	return j
}

// Jobs returns how many jobs have been started.
func (c *Chunker) Jobs() int { return c.seq }

// jobBuffers hold the data of published jobs for the next ones: Publish
// gives a job's back once the stream stored it.
var jobBuffers sync.Pool

// jobBuffer returns an empty buffer with room for n bytes.
func jobBuffer(n int) []byte {
	if p, ok := jobBuffers.Get().(*[]byte); ok && cap(*p) >= n {
		return (*p)[:0]
	}
	return make([]byte, 0, n)
}

// recycle gives b to the next jobs; nothing may use it afterwards.
func recycle(b []byte) {
	b = b[:0]
	jobBuffers.Put(&b)
}
