package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"crmsync/internal/backfill"
	"crmsync/internal/jobs"
)

// input is the opened input: a file (seekable, for the id hash and
// -strict's first pass) or stdin.
type input struct {
	name   string // file name, or "stdin"
	file   *os.File
	stdin  io.Reader
	size   int64 // bytes, 0 when unknown
	format backfill.Format
	temp   string // spooled stdin, removed on close
}

func (in *input) close() {
	if in.file != nil {
		in.file.Close()
	}
	if in.temp != "" {
		os.Remove(in.temp)
	}
}

// open returns a reader over the rows from the start, and the byte counter
// for progress.
func (in *input) open(spec backfill.Spec) (backfill.Reader, *backfill.Counter, io.Closer, []string, error) {
	var raw io.Reader = in.stdin
	if in.file != nil {
		if _, err := in.file.Seek(0, io.SeekStart); err != nil {
			return nil, nil, nil, nil, &backfill.InputError{Err: err}
		}
		raw = in.file
	}
	cnt := backfill.NewCounter(raw)
	r, zc, err := backfill.Decompress(cnt)
	if err != nil {
		return nil, nil, nil, nil, &backfill.InputError{Err: fmt.Errorf("%s: %w", in.name, err)}
	}
	var rr backfill.Reader
	var header []string
	switch in.format {
	case backfill.CSV:
		cr, err := backfill.NewCSVReader(r, spec)
		if err != nil {
			zc.Close()
			return nil, nil, nil, nil, fmt.Errorf("%s: %w", in.name, err)
		}
		rr = cr
		header = cr.(interface{ Header() []string }).Header()
	case backfill.JSONL:
		rr = backfill.NewJSONLReader(r, spec)
	default:
		rr = backfill.NewTextReader(r, spec)
	}
	return rr, cnt, zc, header, nil
}

func (m *Main) backfill(ctx context.Context, cmd string, args []string) error {
	fs := flag.NewFlagSet("enqueue "+cmd, flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	spec := backfill.Spec{Kind: jobs.KindContactUpsert}
	if cmd == "validate" {
		spec.Kind = jobs.KindEmailValidate
	}
	var (
		tags, mapping, tgs, offers, format, id, rejects string
		wait, strict, quiet                             bool
		top                                             int
		timeout                                         time.Duration
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
	pos, err := parse(fs, args)
	if err != nil {
		return fail(exitUsage, "")
	}
	if len(pos) != 1 {
		return fail(exitUsage, "%s: give exactly one input FILE (or - for stdin), got %d", cmd, len(pos))
	}
	spec.Tags = splitList(tags)
	spec.TargetGroupIDs, spec.OfferIDs = splitList(tgs), splitList(offers)
	if mapping != "" {
		spec.Map = map[string]string{}
		for _, kv := range splitList(mapping) {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || strings.TrimSpace(k) == "" || strings.TrimSpace(v) == "" {
				return fail(exitUsage, "-map %q: want column=key", kv)
			}
			spec.Map[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	cfg, err := m.loadConfig()
	if err != nil {
		return err
	}
	spec.MaxItems, spec.MaxBytes = cfg.MaxJobItems, cfg.MaxJobBytes
	if spec.Batch > spec.MaxItems {
		fmt.Fprintf(m.Stderr, "enqueue: -batch %d is more than the worker's limit; using %d (WORKER_MAX_JOB_ITEMS)\n", spec.Batch, spec.MaxItems)
		spec.Batch = spec.MaxItems
	}
	if err := spec.Validate(); err != nil {
		return err
	}
	spec = spec.WithDefaults()
	if id != "" {
		if err := backfill.CheckID(id); err != nil {
			return err
		}
	}

	in := &input{name: pos[0]}
	if format != "" {
		if in.format, err = backfill.ParseFormat(format); err != nil {
			return fail(exitUsage, "-format: %v", err)
		}
	}
	if pos[0] == "-" {
		in.name = "stdin"
		if id == "" {
			return fail(exitUsage, "reading stdin needs -id BACKFILL (the default id hashes a file's content, which stdin cannot be read twice for)")
		}
		if in.format == "" {
			in.format = backfill.CSV
			if spec.Kind == jobs.KindEmailValidate {
				in.format = backfill.Text
			}
		}
		in.stdin = m.Stdin
		if strict { // -strict reads twice: keep a copy on disk
			f, err := os.CreateTemp("", "enqueue-stdin-*")
			if err != nil {
				return fail(exitUsage, "stdin: spooling for -strict: %v", err)
			}
			in.file, in.temp = f, f.Name()
			if _, err := io.Copy(f, m.Stdin); err != nil {
				in.close()
				return fail(exitUsage, "stdin: spooling for -strict: %v", err)
			}
		}
		if rejects == "" {
			rejects = backfill.RejectsPath(id, in.format)
		}
	} else {
		f, err := os.Open(pos[0])
		if err != nil {
			return fail(exitUsage, "%s: %v", pos[0], errors.Unwrap(err))
		}
		in.file = f
		if st, err := f.Stat(); err == nil {
			if st.IsDir() {
				f.Close()
				return fail(exitUsage, "%s is a directory", pos[0])
			}
			in.size = st.Size()
		}
		if in.format == "" {
			ff, ok := backfill.FormatOf(pos[0])
			if !ok {
				f.Close()
				return fail(exitUsage, "%s: cannot tell the format from the extension (.csv, .jsonl, .ndjson, .txt, optionally .gz); use -format", pos[0])
			}
			in.format = ff
		}
		if rejects == "" {
			rejects = backfill.RejectsPath(pos[0], in.format)
		}
	}
	defer in.close()

	c, err := m.connect(ctx, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	// The server's max_payload counts headers too (Nats-Msg-Id, ...).
	if mp := int(c.nc.MaxPayload()) - backfill.HeaderAllowance; mp > 0 && mp < spec.MaxBytes {
		spec.MaxBytes = mp
	}

	if id == "" {
		if _, err := in.file.Seek(0, io.SeekStart); err != nil {
			return &backfill.InputError{Err: err}
		}
		if id, err = backfill.DeriveID(pos[0], spec.Fingerprint(in.format), in.file); err != nil {
			return &backfill.InputError{Err: fmt.Errorf("%s: %w", in.name, err)}
		}
	}

	if strict {
		n, err := m.check(ctx, in, spec, id, rejects)
		if err != nil {
			return err
		}
		if n > 0 {
			return fail(exitRejects, "%s: %d bad rows (written to %s); nothing published (-strict)", in.name, n, rejects)
		}
	}

	if err := backfill.EnsureStreams(ctx, c.js, jobs.StreamConfig{DuplicateWindow: cfg.DuplicateWindow, ResultsMaxAge: cfg.ResultsMaxAge,
		DLQMaxAge: cfg.DLQMaxAge, Replicas: cfg.StreamReplicas}); err != nil {
		return fail(exitNATS, "%v", err)
	}

	// -wait reads what is stored from now on, by sequence: clocks differ.
	var resultsFrom, dlqFrom uint64
	if wait {
		if resultsFrom, err = backfill.NextSeq(ctx, c.js, jobs.ResultsStream); err == nil {
			dlqFrom, err = backfill.NextSeq(ctx, c.js, jobs.DLQStream)
		}
		if err != nil {
			return fail(exitNATS, "%v", err)
		}
	}

	r, cnt, zc, header, err := in.open(spec)
	if err != nil {
		return err
	}
	defer zc.Close()
	rf, err := backfill.NewRejectFile(rejects, in.format, header)
	if err != nil {
		return fail(exitUsage, "rejects file: %v", err)
	}
	st := &backfill.Stats{}
	start := m.Now()
	prog := m.startProgress(quiet, "enqueue "+id, in.size, cnt, st)
	perr := backfill.Publish(ctx, c.nc, spec.Kind, r, backfill.NewChunker(id, spec), backfill.Options{
		Stats: st,
		Reject: func(e *backfill.RowError) error {
			if rf.Count() < 5 {
				prog.log(fmt.Sprintf("enqueue: %s line %d: %s (skipped; see %s)", in.name, e.Line, e.Reason, rejects))
			}
			if err := rf.Write(e); err != nil {
				return fail(exitUsage, "rejects file %s: %v", rejects, err)
			}
			return nil
		},
	})
	prog.stop()
	if err := rf.Close(); err != nil && perr == nil {
		perr = fail(exitUsage, "rejects file %s: %v", rejects, err)
	}
	elapsed := m.Now().Sub(start)
	m.printPublished(in.name, id, st, elapsed, rejects)
	if perr != nil {
		var pe *backfill.PublishError
		if errors.As(perr, &pe) {
			return fail(exitNATS, "%v (published %d of the jobs built; run the same command again to resume: published jobs are deduplicated)", pe, st.Published.Load()+st.Duplicates.Load())
		}
		return perr
	}
	m.saveRecord(ctx, c, backfill.Record{ID: id, Kind: spec.Kind, Target: spec.Target, Account: spec.Account,
		Jobs: int(st.Jobs.Load()), Items: int(st.Items.Load()), Rejected: int(st.Rejected.Load()),
		Source: in.source(), Created: m.Now().UTC().Truncate(time.Second)})
	code := exitOK
	if st.Rejected.Load() > 0 {
		code = exitRejects
	}
	if !wait {
		return exitCode(code)
	}
	if st.Duplicates.Load() > 0 || st.Done.Load() > 0 {
		resultsFrom, dlqFrom = 0, 0 // some results may be from the earlier run
	}
	wctx := ctx
	if timeout > 0 {
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	expected := int(st.Jobs.Load())
	wp := m.startWaitProgress(quiet, "results "+id, expected)
	sum, err := backfill.Follow(wctx, c.js, id, spec.Kind, expected, backfill.FollowOptions{ResultsFrom: resultsFrom, DLQFrom: dlqFrom, Progress: wp.set})
	wp.stop()
	if sum != nil {
		sum.Print(m.Stdout, top)
	}
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			return fail(exitRejects, "stopped waiting: %d of %d jobs have no result yet (enqueue status %s shows them later)", sum.Missing, expected, id)
		}
		return fail(exitNATS, "following results: %v", err)
	}
	if !sum.OK() {
		code = exitRejects
	}
	return exitCode(code)
}

// saveRecord keeps the backfill's record in CRMSYNC_BACKFILLS for status.
// The jobs are enqueued already, so a failure is a warning: status then
// says the total is unknown.
func (m *Main) saveRecord(ctx context.Context, c *conn, rec backfill.Record) {
	kv, err := backfill.EnsureRecords(ctx, c.js, backfill.RecordsConfig{TTL: c.cfg.ResultsMaxAge, Replicas: c.cfg.StreamReplicas})
	if err == nil {
		err = backfill.SaveRecord(ctx, kv, rec)
	}
	if err != nil {
		fmt.Fprintf(m.Stderr, "enqueue: warning: the jobs are enqueued, but their number could not be recorded (%v); enqueue status %s will not know the total\n", err, rec.ID)
	}
}

// source names the input in the backfill's record: the file's base name,
// or "stdin".
func (in *input) source() string {
	if in.stdin != nil {
		return "stdin"
	}
	return filepath.Base(in.name)
}

func exitCode(code int) error {
	if code == exitOK {
		return nil
	}
	return &exitError{code: code}
}

// check is -strict's first pass: every row checked, bad ones to the
// rejects file. It returns the number of bad rows.
func (m *Main) check(ctx context.Context, in *input, spec backfill.Spec, id, rejects string) (int64, error) {
	r, _, zc, header, err := in.open(spec)
	if err != nil {
		return 0, err
	}
	defer zc.Close()
	rf, err := backfill.NewRejectFile(rejects, in.format, header)
	if err != nil {
		return 0, fail(exitUsage, "rejects file: %v", err)
	}
	st := &backfill.Stats{}
	err = backfill.Check(ctx, r, backfill.NewChunker(id, spec), backfill.Options{Stats: st, Reject: func(e *backfill.RowError) error {
		if rf.Count() < 5 {
			fmt.Fprintf(m.Stderr, "enqueue: %s line %d: %s\n", in.name, e.Line, e.Reason)
		}
		return rf.Write(e)
	}})
	if cerr := rf.Close(); err == nil {
		err = cerr
	}
	return st.Rejected.Load(), err
}

func (m *Main) printPublished(name, id string, st *backfill.Stats, elapsed time.Duration, rejects string) {
	w := m.Stdout
	rate := float64(st.Rows.Load()) / max(elapsed.Seconds(), 1e-9)
	fmt.Fprintf(w, "backfill %s: %s rows read from %s in %s (%s rows/s)\n", id, num(st.Rows.Load()), name, elapsed.Round(time.Millisecond), num(int64(rate)))
	fmt.Fprintf(w, "  jobs:  %s sent (%s items): %s enqueued, %s already enqueued (duplicates, skipped)\n",
		num(st.Jobs.Load()), num(st.Items.Load()), num(st.Published.Load()), num(st.Duplicates.Load()))
	if n := st.Done.Load(); n > 0 {
		fmt.Fprintf(w, "  already done: %s jobs have a result from an earlier run (not sent again)\n", num(n))
	}
	if n := st.Rejected.Load(); n > 0 {
		fmt.Fprintf(w, "  rejected: %s rows (line and reason in %s)\n", num(n), rejects)
	}
	if n := st.Retries.Load(); n > 0 {
		fmt.Fprintf(w, "  publish retries: %d\n", n)
	}
}

// num formats n with thousands separators.
func num(n int64) string {
	s := strconv.FormatInt(n, 10)
	if n < 0 {
		return s
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
