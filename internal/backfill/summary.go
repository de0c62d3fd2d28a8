package backfill

import (
	"fmt"
	"io"
)

// Print writes the summary for people: jobs and items by outcome, the top
// failure reasons with counts, and the dead-lettered jobs.
func (s *Summary) Print(w io.Writer, top int) {
	jobsLine := fmt.Sprintf("%d jobs", s.Seen)
	if s.Expected > 0 {
		jobsLine = fmt.Sprintf("%d of %d jobs finished", s.Seen, s.Expected)
	}
	fmt.Fprintf(w, "backfill %s: %s\n", s.ID, jobsLine)
	fmt.Fprintf(w, "  jobs:  %d succeeded, %d partial, %d failed, %d dead-lettered", s.Succeeded, s.Partial, s.Failed, s.DeadLettered)
	if s.Missing > 0 {
		fmt.Fprintf(w, ", %d without a result yet", s.Missing)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "  items: %d succeeded, %d failed (of %d)\n", s.ItemsSucceeded, s.ItemsFailed, s.Items)
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
