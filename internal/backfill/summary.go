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
	jobsLine := Plural(int64(s.Seen), "job", "jobs")
	if s.Expected > 0 || s.Record != nil {
		jobsLine = fmt.Sprintf("%s of %s finished", Num(int64(s.Seen)), Plural(int64(s.Expected), "job", "jobs"))
	}
	fmt.Fprintf(w, "backfill %s: %s\n", s.ID, jobsLine)
	if r := s.Record; r != nil {
		to := string(r.Kind)
		if r.Target != "" {
			to += " to " + r.Target
		}
		fmt.Fprintf(w, "  enqueued %s from %s: %s, account %s; %s, %s, %s rejected\n",
			r.Created.UTC().Format(time.RFC3339), r.Source, to, r.Account, Plural(int64(r.Jobs), "job", "jobs"), Plural(int64(r.Items), "item", "items"), Plural(int64(r.Rejected), "row", "rows"))
	}
	if s.TotalUnknown {
		fmt.Fprintf(w, "  total unknown: no record in %s (enqueued before records were kept, older than its TTL, or by another publisher)", RecordBucket)
		if s.Highest > 0 {
			fmt.Fprintf(w, "; jobs still queued after %s are not counted", JobID(s.ID, s.Highest))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "  jobs:  %s succeeded, %s partial, %s failed, %s dead-lettered", n(s.Succeeded), n(s.Partial), n(s.Failed), n(s.DeadLettered))
	if s.Missing > 0 {
		fmt.Fprintf(w, ", %s without a result yet", n(s.Missing))
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "  items: %s succeeded, %s failed (of %s)\n", n(s.ItemsSucceeded), n(s.ItemsFailed), n(s.Items))
	if len(s.Waiting) > 0 {
		fmt.Fprintf(w, "  without a result yet: %s\n", s.waiting(top))
	}
	if len(s.Queued) > 0 {
		fmt.Fprintf(w, "  queued where its jobs go: %s\n", queuedLine(s.Queued))
	}
	if s.Valid+s.Invalid > 0 {
		fmt.Fprintf(w, "  emails: %s valid, %s invalid (ClickyID's verdicts)\n", n(s.Valid), n(s.Invalid))
		printReasons(w, "  invalid emails by reason:", s.InvalidReasons, top)
	}
	printReasons(w, "  failed items by reason:", s.Reasons, top)
	if len(s.Dead) > 0 {
		fmt.Fprintln(w, "  dead-lettered jobs (enqueue dlq list; enqueue dlq replay SEQ):")
		for i, d := range s.Dead {
			if i == top {
				fmt.Fprintf(w, "    ... and %s more\n", n(len(s.Dead)-top))
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
			fmt.Fprintf(w, "  %9s  (%s)\n", n(rest), Plural(int64(len(reasons)-top), "other reason", "other reasons"))
			break
		}
		fmt.Fprintf(w, "  %9s  %s\n", n(r.Count), r.Text)
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
		fmt.Fprintf(&b, " and %s more", n(rest))
	}
	return b.String()
}

// n is Num for an int.
func n(i int) string { return Num(int64(i)) }
