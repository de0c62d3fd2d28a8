package backfill

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Print writes the summary for people: jobs and items by outcome, where
// the backfill came from (or that its total is unknown), the jobs without
// a result yet, the top failure reasons with counts, and the
// dead-lettered jobs. top bounds each list.
func (s *Summary) Print(w io.Writer, top int) {
	jobsLine := fmt.Sprintf("%d jobs", s.Seen)
	if s.Expected > 0 || s.Record != nil {
		jobsLine = fmt.Sprintf("%d of %d jobs finished", s.Seen, s.Expected)
	}
	fmt.Fprintf(w, "backfill %s: %s\n", s.ID, jobsLine)
	if r := s.Record; r != nil {
		to := string(r.Kind)
		if r.Target != "" {
			to += " to " + r.Target
		}
		fmt.Fprintf(w, "  enqueued %s from %s: %s, account %s; %d jobs, %d items, %d rows rejected\n",
			r.Created.UTC().Format(time.RFC3339), r.Source, to, r.Account, r.Jobs, r.Items, r.Rejected)
	}
	if s.TotalUnknown {
		fmt.Fprintf(w, "  total unknown: no record in %s (enqueued before records were kept, older than its TTL, or by another publisher)", RecordBucket)
		if s.Highest > 0 {
			fmt.Fprintf(w, "; jobs still queued after %s are not counted", JobID(s.ID, s.Highest))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "  jobs:  %d succeeded, %d partial, %d failed, %d dead-lettered", s.Succeeded, s.Partial, s.Failed, s.DeadLettered)
	if s.Missing > 0 {
		fmt.Fprintf(w, ", %d without a result yet", s.Missing)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "  items: %d succeeded, %d failed (of %d)\n", s.ItemsSucceeded, s.ItemsFailed, s.Items)
	if len(s.Waiting) > 0 {
		fmt.Fprintf(w, "  without a result yet: %s\n", s.waiting(top))
	}
	if s.Valid+s.Invalid > 0 {
		fmt.Fprintf(w, "  emails: %d valid, %d invalid (ClickyID's verdicts)\n", s.Valid, s.Invalid)
		printReasons(w, "  invalid emails by reason:", s.InvalidReasons, top)
	}
	printReasons(w, "  failed items by reason:", s.Reasons, top)
	if len(s.Dead) > 0 {
		fmt.Fprintln(w, "  dead-lettered jobs (enqueue dlq list; enqueue dlq replay SEQ):")
		for i, d := range s.Dead {
			if i == top {
				fmt.Fprintf(w, "    ... and %d more\n", len(s.Dead)-top)
				break
			}
			seq := "-"
			if d.Seq > 0 {
				seq = fmt.Sprint(d.Seq)
			}
			fmt.Fprintf(w, "    %s  dlq seq %s: %s\n", d.ID, seq, d.Reason)
		}
	}
}

// printReasons writes a heading and the top reasons with their counts.
func printReasons(w io.Writer, heading string, reasons []Reason, top int) {
	if len(reasons) == 0 {
		return
	}
	fmt.Fprintln(w, heading)
	for i, r := range reasons {
		if i == top {
			rest := 0
			for _, r := range reasons[top:] {
				rest += r.Count
			}
			fmt.Fprintf(w, "  %8d  (%d other reasons)\n", rest, len(reasons)-top)
			break
		}
		fmt.Fprintf(w, "  %8d  %s\n", r.Count, r.Text)
	}
}

// waiting lists the first top runs of jobs without a result.
func (s *Summary) waiting(top int) string {
	var b strings.Builder
	rest := 0
	for i, sp := range s.Waiting {
		if i >= max(top, 1) {
			rest += sp.To - sp.From + 1
			continue
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(JobID(s.ID, sp.From))
		if sp.To > sp.From {
			b.WriteString(" to " + JobID(s.ID, sp.To))
		}
	}
	if rest > 0 {
		fmt.Fprintf(&b, " and %d more", rest)
	}
	return b.String()
}
