package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"crmsync/internal/backfill"
	"crmsync/internal/config"
	"crmsync/internal/jobs"
)

// backfillFlags are what the flags of contacts and validate say.
type backfillFlags struct {
	cfg   backfill.Config
	top   int  // failure reasons shown in the summary
	quiet bool // no progress output
}

// parseBackfill reads the flags of contacts or validate, and the
// environment's job limits and stream settings.
func (m *Main) parseBackfill(cmd string, args []string) (*backfillFlags, *config.Config, error) {
	fs := flag.NewFlagSet("enqueue "+cmd, flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	spec := backfill.Spec{Kind: jobs.KindContactUpsert}
	if cmd == "validate" {
		spec.Kind = jobs.KindEmailValidate
	}
	var (
		tags, mapping, tgs, offers, format, id, rejects, priority string
		wait, strict, quiet                                       bool
		top                                                       int
		timeout                                                   time.Duration
	)
	fs.StringVar(&spec.Account, "account", "default", "credentials profile the jobs name")
	if spec.Kind == jobs.KindContactUpsert {
		fs.StringVar(&spec.Target, "target", "", "klicktipp or klipy (required)")
		fs.Int64Var(&spec.ListID, "list", 0, "KlickTipp opt-in list id for every contact")
		fs.StringVar(&tags, "tags", "", "KlickTipp tags (ids or names, comma-separated) for every contact")
		fs.StringVar(&mapping, "map", "", "column mappings col=key,... (key: a KlickTipp field key, email, tags, listid, - to drop; for Klipy any person key)")
		fs.IntVar(&spec.Batch, "batch", 200, "items per job (at most WORKER_MAX_JOB_ITEMS; jobs also stay under WORKER_MAX_JOB_BYTES and the server's max_payload)")
	} else {
		fs.StringVar(&mapping, "map", "", "CSV: col=email names the email column (when it is not email, e-mail or email_address)")
		fs.StringVar(&tgs, "target-groups", "", "ClickyID target group ids, comma-separated")
		fs.StringVar(&offers, "offers", "", "ClickyID offer ids, comma-separated")
		fs.StringVar(&spec.Mode, "mode", "any", "any or all")
		fs.IntVar(&spec.Batch, "batch", 1000, "emails per job")
	}
	fs.StringVar(&format, "format", "", "csv, jsonl or txt (default: from the file's extension; stdin: csv for contacts, txt for validate)")
	fs.StringVar(&id, "id", "", "backfill id; job ids are ID-000001, ... (default: the file's name and a hash of its content and these flags; required for stdin)")
	fs.StringVar(&rejects, "rejects", "", "where bad rows go (default FILE.rejects.csv, or .jsonl for JSON Lines; ID.rejects.csv for stdin)")
	fs.BoolVar(&strict, "strict", false, "check every row first and publish nothing if any is bad")
	fs.BoolVar(&wait, "wait", false, "wait for the jobs' results and print a summary")
	fs.DurationVar(&timeout, "timeout", 0, "with -wait, stop waiting after this long (default: no limit)")
	fs.IntVar(&top, "top", 10, "failure reasons shown in the summary")
	fs.BoolVar(&quiet, "quiet", false, "no progress output")
	fs.StringVar(&priority, "priority", jobs.PriorityBackfill, "backfill (the jobs wait behind live jobs) or live (header Crmsync-Priority)")
	pos, err := parse(fs, args)
	if err != nil {
		return nil, nil, fail(exitUsage, "")
	}
	if len(pos) != 1 {
		return nil, nil, fail(exitUsage, "%s: give exactly one input FILE (or - for stdin), got %d", cmd, len(pos))
	}
	spec.Tags = splitList(tags)
	spec.TargetGroupIDs, spec.OfferIDs = splitList(tgs), splitList(offers)
	if mapping != "" {
		spec.Map = map[string]string{}
		for _, kv := range splitList(mapping) {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || strings.TrimSpace(k) == "" || strings.TrimSpace(v) == "" {
				return nil, nil, fail(exitUsage, "-map %q: want column=key", kv)
			}
			spec.Map[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	cfg, err := m.loadConfig()
	if err != nil {
		return nil, nil, err
	}
	spec.MaxItems, spec.MaxBytes = cfg.MaxJobItems, cfg.MaxJobBytes
	if spec.Batch > spec.MaxItems {
		fmt.Fprintf(m.Stderr, "enqueue: -batch %d is more than the worker's limit; using %s (WORKER_MAX_JOB_ITEMS)\n", spec.Batch, num(int64(spec.MaxItems)))
		spec.Batch = spec.MaxItems
	}
	bcfg := backfill.Config{Spec: spec, Input: pos[0], Stdin: m.Stdin, ID: id, Rejects: rejects, Strict: strict, Wait: wait, Timeout: timeout, Priority: priority,
		Streams: jobs.StreamConfig{DuplicateWindow: cfg.DuplicateWindow, ResultsMaxAge: cfg.ResultsMaxAge, DLQMaxAge: cfg.DLQMaxAge, Replicas: cfg.StreamReplicas},
		Records: backfill.RecordsConfig{TTL: cfg.ResultsMaxAge, Replicas: cfg.StreamReplicas},
		Now:     m.Now}
	if format != "" {
		if bcfg.Format, err = backfill.ParseFormat(format); err != nil {
			return nil, nil, fail(exitUsage, "-format: %v", err)
		}
	}
	return &backfillFlags{cfg: bcfg, top: top, quiet: quiet}, cfg, nil
}

// backfill runs contacts or validate: it publishes the input's jobs,
// prints what it did and, with -wait, follows their results.
func (m *Main) backfill(ctx context.Context, cmd string, args []string) error {
	f, cfg, err := m.parseBackfill(cmd, args)
	if err != nil {
		return err
	}
	bcfg, quiet := f.cfg, f.quiet
	var (
		b        *backfill.Backfill
		prog     *progress // the publishing pass's, once it runs
		finished func(int) // the wait's progress, once it runs
	)
	bcfg.Hooks = backfill.Hooks{
		Started: func(p backfill.Progress) func() {
			pr := m.startProgress(quiet, "enqueue "+p.ID, p.Size, p.Read, p.Stats)
			prog = &pr
			return pr.stop
		},
		Rejected: func(e *backfill.RowError, n int) {
			if n > 5 {
				return
			}
			if prog == nil { // -strict's checking pass
				fmt.Fprintf(m.Stderr, "enqueue: %s line %d: %s\n", b.Input(), e.Line, e.Reason)
				return
			}
			prog.log(fmt.Sprintf("enqueue: %s line %d: %s (skipped; see %s)", b.Input(), e.Line, e.Reason, b.Rejects()))
		},
		Finished: func(n int) {
			if finished != nil {
				finished(n)
			}
		},
	}
	b, err = backfill.New(bcfg)
	if err != nil {
		return err
	}
	defer b.Close()

	c, err := m.connect(ctx, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	rep, perr := b.Publish(ctx, c.nc)
	if rep != nil {
		m.printPublished(rep)
	}
	if perr != nil {
		var pe *backfill.PublishError
		var se *backfill.StrictError
		switch {
		case errors.As(perr, &pe):
			return fail(exitNATS, "%v (published %s of the jobs built; run the same command again to resume: published jobs are deduplicated)", pe, num(rep.Stats.Published.Load()+rep.Stats.Duplicates.Load()))
		case errors.As(perr, &se):
			return fail(exitRejects, "%v", se)
		}
		return perr
	}
	if rep.RecordErr != nil {
		fmt.Fprintf(m.Stderr, "enqueue: warning: the jobs are enqueued, but their number could not be recorded (%v); enqueue status %s will not know the total\n", rep.RecordErr, rep.ID)
	}
	code := exitOK
	if rep.Stats.Rejected.Load() > 0 {
		code = exitRejects
	}
	if !bcfg.Wait {
		return exitCode(code)
	}
	wp := m.startWaitProgress(quiet, "results "+rep.ID, int(rep.Stats.Jobs.Load()))
	finished = wp.set
	sum, err := b.Wait(ctx, c.js)
	wp.stop()
	if sum != nil {
		sum.Print(m.Stdout, f.top)
	}
	if err != nil {
		var ie *backfill.IncompleteError
		if errors.As(err, &ie) {
			return fail(exitRejects, "%v", ie)
		}
		return fail(exitNATS, "following results: %v", err)
	}
	if !sum.OK() {
		code = exitRejects
	}
	return exitCode(code)
}

func exitCode(code int) error {
	if code == exitOK {
		return nil
	}
	return &exitError{code: code}
}

func (m *Main) printPublished(rep *backfill.Report) {
	w, st, name, id, elapsed, rejects := m.Stdout, rep.Stats, rep.Input, rep.ID, rep.Elapsed, rep.Rejects
	rate := float64(st.Rows.Load()) / max(elapsed.Seconds(), 1e-9)
	fmt.Fprintf(w, "backfill %s: %s read from %s in %s (%s rows/s)\n", id, plural(st.Rows.Load(), "row", "rows"), name, elapsed.Round(time.Millisecond), num(int64(rate)))
	fmt.Fprintf(w, "  jobs:  %s sent (%s): %s enqueued, %s already enqueued (duplicates, skipped)\n",
		num(st.Jobs.Load()), plural(st.Items.Load(), "item", "items"), num(st.Published.Load()), num(st.Duplicates.Load()))
	if n := st.Done.Load(); n > 0 {
		have := "have"
		if n == 1 {
			have = "has"
		}
		fmt.Fprintf(w, "  already done: %s %s a result from an earlier run (not sent again)\n", plural(n, "job", "jobs"), have)
	}
	if n := st.Rejected.Load(); n > 0 {
		fmt.Fprintf(w, "  rejected: %s (line and reason in %s)\n", plural(n, "row", "rows"), rejects)
	}
	if n := st.Retries.Load(); n > 0 {
		fmt.Fprintf(w, "  publish retries: %s\n", num(n))
	}
}

// num formats n with thousands separators, as status does.
func num(n int64) string { return backfill.Num(n) }

// plural formats n and its noun: "1 row", "2 rows".
func plural(n int64, one, many string) string { return backfill.Plural(n, one, many) }
