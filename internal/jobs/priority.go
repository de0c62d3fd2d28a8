package jobs

// HeaderPriority is the job header that makes a message a backfill job.
// A message whose HeaderPriority is PriorityBackfill is a backfill job; any
// other message (no header, PriorityLive, anything else) is a live job.
// enqueue sets PriorityBackfill unless told -priority live.
const HeaderPriority = "Crmsync-Priority"

// Priority values of HeaderPriority.
const (
	PriorityLive     = "live"
	PriorityBackfill = "backfill"
)
