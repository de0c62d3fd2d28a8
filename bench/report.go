package main

import (
	"fmt"
	"html"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"
)

// row is one line of the results table.
type row struct {
	ID, Workload, Figure, Anchor string
	Ratio                        float64 // the headline ratio or figure the target is about
	NoRatio                      bool    // the figure is not a ratio: the ratio column shows "–"
	Target                       string
	Met                          bool
	chart                        string // label in the chart; empty: not charted
}

func ratio(r row) string {
	if r.NoRatio {
		return "–"
	}
	return fmt.Sprintf("%.2f", r.Ratio)
}

func verdict(r row) string {
	if r.Met {
		return "met"
	}
	return "MISSED"
}

func printTable(w io.Writer, rows []row) {
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tworkload\tcrmsync\tanchor\tratio\ttarget\t")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Workload, r.Figure, r.Anchor, ratio(r), r.Target, verdict(r))
	}
	tw.Flush()
}

// write puts the table, the machine and the command into out (Markdown),
// and the chart of the headline ratios beside it as chart.svg.
func (b *bench) write(out, args string, took time.Duration) error {
	var sb strings.Builder
	cmd := "cd bench && go run ."
	if args != "" {
		cmd += " " + args
	}
	fmt.Fprintf(&sb, "# crmsync benchmark results\n\n")
	fmt.Fprintf(&sb, "`%s` on %d cores, %s, %s (took %s). Each figure is the median of %d interleaved repetitions",
		cmd, runtime.NumCPU(), runtime.Version(), time.Now().UTC().Format("2006-01-02 15:04 MST"), took.Round(time.Second), b.reps)
	if n := b.shortRuns(); n != b.reps {
		fmt.Fprintf(&sb, " (%d of B4 ClickyID, whose runs last about a second)", n)
	}
	if b.scale != 1 {
		fmt.Fprintf(&sb, " at %.0f%% of the full sizes", b.scale*100)
	}
	fmt.Fprintf(&sb, "; ratios are against an anchor measured in the same run. Absolute times are this shared machine's and are not the claim.\n\n")
	fmt.Fprintf(&sb, "![headline ratios](chart.svg)\n\n")
	fmt.Fprintf(&sb, "| # | workload | crmsync | anchor | ratio | target | |\n|---|---|---|---|---:|---|---|\n")
	for _, r := range b.rows {
		fmt.Fprintf(&sb, "| %s | %s | %s | %s | %s | %s | %s |\n", r.ID, r.Workload, r.Figure, r.Anchor, ratio(r), r.Target, verdict(r))
	}
	sb.WriteString(sidesText)
	for _, n := range b.notes {
		fmt.Fprintf(&sb, "- %s\n", n)
	}
	if err := os.WriteFile(out, []byte(sb.String()), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(filepath.Dir(out), "chart.svg"), []byte(chart(b.rows)), 0o644)
}

// chart draws the charted rows as horizontal bars, 1.0 marked.
func chart(rows []row) string {
	var bars []row
	for _, r := range rows {
		if r.chart != "" {
			bars = append(bars, r)
		}
	}
	const left, width, barH, gap = 230, 360, 22, 10
	top := 40
	h := top + len(bars)*(barH+gap) + 30
	maxV := 1.2
	for _, r := range bars {
		maxV = max(maxV, r.Ratio*1.05)
	}
	x := func(v float64) float64 { return left + v/maxV*width }
	var sb strings.Builder
	fmt.Fprintf(&sb, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", left+width+60, h)
	fmt.Fprintf(&sb, `<rect width="100%%" height="100%%" fill="#fff"/><text x="10" y="22" font-size="14" font-weight="bold">crmsync: headline ratios (1.0 = the anchor)</text>`+"\n")
	for i, r := range bars {
		y := top + i*(barH+gap)
		color := "#2a7ab0"
		if !r.Met {
			color = "#c0392b"
		}
		fmt.Fprintf(&sb, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", left-8, y+barH-6, html.EscapeString(r.chart))
		fmt.Fprintf(&sb, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>`+"\n", left, y, x(r.Ratio)-left, barH, color)
		fmt.Fprintf(&sb, `<text x="%.1f" y="%d">%.2f</text>`+"\n", x(r.Ratio)+4, y+barH-6, r.Ratio)
	}
	fmt.Fprintf(&sb, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#333" stroke-dasharray="4 3"/>`+"\n", x(1), top-6, x(1), h-24)
	fmt.Fprintf(&sb, `<text x="%.1f" y="%d" text-anchor="middle">1.0</text>`+"\n", x(1), h-10)
	sb.WriteString("</svg>\n")
	return sb.String()
}

const sidesText = `
## What each side does

- **crmsync**: the real worker binary (built with the Dockerfile's flags), its own process, dialling a
  fresh JetStream server that runs, with the project's fake APIs, in the bench process on loopback. Jobs are published to the intake subjects with ` + "`Nats-Msg-Id`" + ` (B1–B4 as live jobs, so
  every slot may take them; B5's backfill with ` + "`Crmsync-Priority: backfill`" + `). The worker runs with
  its defaults (so ` + "`WORKER_GC_HEAP_TARGET_MB=64`" + `) but for the rates: it checks each job's envelope at the
  intake, moves it onto its lane (or, onto a free slot of an idle lane, starts it straight from the intake),
  looks it up in the finished-job bucket, decodes and checks its items,
  checkpoints long ones, resolves tags, logs in and out once per KlickTipp job (session mode), waits on its
  shared rate limiter (KV-backed), publishes one result per job with every item, records the job as
  finished and acks it.
- **peer**: what a Go team would assemble instead, its own process: Watermill v1.5.1's router over
  watermill-nats v2.1.3's JetStream subscriber (one grouped durable consumer on a work-queue stream, one
  handler per slot), Watermill's Retry (5 retries, 100 ms doubling to 5 s) and Throttle middleware (B3:
  the window's rate), HTTP through hashicorp/go-retryablehttp v0.7.8 (8 retries, honours Retry-After),
  one login, tag listing, upserts one by one and logout per KlickTipp job, bulk calls of 100 per ClickyID
  job, one result per job through Watermill's JetStream publisher. Its result carries the counts only,
  where crmsync's carries every item (subscriber id, or ClickyID's verdict, reason and matched domain). Its logger is Watermill's NopLogger
  (crmsync logs nothing per request either). It has no checkpoints, no dead letters, no shared limiter and
  no lanes: B5's live jobs wait in its one FIFO.
- **bare loop**: the physical limit, its own process: the same HTTP calls with the same concurrency
  through net/http and encoding/json, no queue, no retries, no results.
- **ceiling** (B2): slots ÷ latency × contacts per job ÷ calls per job (login, tags, logout and one call
  per contact).
- **PublishAsync anchor** (B6): the very job bodies enqueue produced (dumped from the stream), published
  with plain ` + "`jetstream.PublishAsync`" + ` (1,024 pending, every ack checked), no parsing.

## Notes

- CPU per call is the side's process CPU time (user + system, from /proc) between the first publish and
  the last result, divided by the API requests the fakes received; the fakes and the broker run in the
  bench process and are not counted for either side. Both share the machine's two cores with them, so
  work the broker does for a side (crmsync stores each job twice when it queues on a lane, and results
  with every item) slows that side's API calls.
- The bench reads every result to time the last one; it decodes only a result's head (id, status, times,
  counts), so crmsync's per-item results cost the shared cores no more to read than the peer's counts.
- B3's utilisation counts the successful bulk calls in every window from the first to the one before the
  last (the last runs out of backlog), against 20 per window; a request sent into a window that had
  already answered 429 is "sent while blocked".
- B5's start delay is the job's ` + "`started`" + ` (from its result) minus its publish time; "beyond own
  calls" subtracts the job's own calls at the fake's latency (8 × 100 ms for a 5-contact upsert, 100 ms for
  one bulk call).
`
