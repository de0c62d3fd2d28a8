package backfill

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"crmsync/internal/jobs"
)

// Config is one backfill run: what to read, what jobs to build from it and
// where its bad rows go. Zero fields take the defaults stated.
type Config struct {
	// Spec shapes the jobs; New validates it and applies its defaults.
	Spec Spec
	// Input is the file to read, or "-" for Stdin (required).
	Input string
	// Stdin is read when Input is "-".
	Stdin io.Reader
	// Format is the input's format; default: from Input's extension
	// (FormatOf), for stdin CSV for contact.upsert and Text for
	// email.validate.
	Format Format
	// ID is the backfill id (CheckID); default: DeriveID over the file's
	// name, Spec and content. Required for stdin.
	ID string
	// Rejects is where bad rows go; default RejectsPath(Input, Format),
	// RejectsPath(ID, Format) for stdin.
	Rejects string
	// Strict checks every row first and publishes nothing if any is bad
	// (Publish then returns a *StrictError). Stdin is spooled to a temp
	// file for the second pass.
	Strict bool
	// Wait takes the results' and dead letters' stream sequences before
	// publishing, for Wait.
	Wait bool
	// Timeout bounds Wait; default no limit.
	Timeout time.Duration
	// Streams configures those of the contract's streams that do not exist
	// yet (EnsureStreams).
	Streams jobs.StreamConfig
	// Records configures the bucket of backfill records (EnsureRecords).
	Records RecordsConfig
	// Priority is the jobs' Crmsync-Priority header: jobs.PriorityBackfill
	// (the default: they wait behind live jobs) or jobs.PriorityLive.
	Priority string
	// Now is the clock (default time.Now). It only times the run and dates
	// the record: nothing compares it with the server's clock.
	Now func() time.Time
	// Hooks report progress; nil fields are not called.
	Hooks Hooks
}

// Hooks let the caller show a run as it goes. They are called from the
// goroutine running Publish or Wait.
type Hooks struct {
	// Started is called when the publishing pass begins; the function it
	// returns (may be nil) is called when the pass ends.
	Started func(Progress) (stopped func())
	// Rejected is called with each bad row after it went to the rejects
	// file; n counts them from 1 (in -strict's checking pass too).
	Rejected func(e *RowError, n int)
	// Finished is called with the number of jobs that have an outcome, as
	// Wait sees them.
	Finished func(done int)
}

// Progress is what a running publishing pass shows.
type Progress struct {
	ID    string
	Input string   // the input's name: the file, or "stdin"
	Size  int64    // the input's size in bytes; 0 when unknown
	Read  *Counter // bytes read so far (of Size)
	Stats *Stats
}

// Report is what Publish did.
type Report struct {
	ID      string
	Input   string // the input's name: the file, or "stdin"
	Rejects string // the rejects file's path (it exists only when Stats.Rejected > 0)
	Stats   *Stats
	Elapsed time.Duration // reading and publishing, not -strict's check
	// RecordErr is why the backfill's record could not be saved, or nil:
	// the jobs are enqueued, but status will not know their total.
	RecordErr error
}

// StrictError is a -strict run that found bad rows: nothing was published.
type StrictError struct {
	Input, Rejects string
	Rejected       int64
}

func (e *StrictError) Error() string {
	return fmt.Sprintf("%s: %s (written to %s); nothing published (-strict)", e.Input, Plural(e.Rejected, "bad row", "bad rows"), e.Rejects)
}

// IncompleteError is a Wait that stopped (its timeout, or an interrupt)
// before every job had an outcome.
type IncompleteError struct {
	ID                string
	Missing, Expected int
	Err               error // context.DeadlineExceeded or context.Canceled
}

func (e *IncompleteError) Error() string {
	have := "have"
	if e.Missing == 1 {
		have = "has"
	}
	return fmt.Sprintf("stopped waiting: %s of %s %s no result yet (enqueue status %s shows them later)", Num(int64(e.Missing)), Plural(int64(e.Expected), "job", "jobs"), have, e.ID)
}
func (e *IncompleteError) Unwrap() error { return e.Err }

// Backfill is one run of Config: New opens the input, Publish reads it and
// publishes its jobs, Wait follows their results. Close it when done. It
// is not safe for concurrent use.
type Backfill struct {
	cfg Config
	in  *input

	resultsFrom, dlqFrom uint64 // Wait reads from these sequences
	published            *Stats
}

// New checks cfg and opens its input, before anything is sent. Its
// errors are a *UsageError (flags, a missing file, no format) or an
// *InputError (stdin that cannot be spooled).
func New(cfg Config) (*Backfill, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Priority == "" {
		cfg.Priority = jobs.PriorityBackfill
	}
	if cfg.Priority != jobs.PriorityBackfill && cfg.Priority != jobs.PriorityLive {
		return nil, usagef("-priority %q: want %s or %s", cfg.Priority, jobs.PriorityBackfill, jobs.PriorityLive)
	}
	if err := cfg.Spec.Validate(); err != nil {
		return nil, err
	}
	cfg.Spec = cfg.Spec.WithDefaults()
	if cfg.ID != "" {
		if err := CheckID(cfg.ID); err != nil {
			return nil, err
		}
	}
	in := &input{name: cfg.Input, format: cfg.Format}
	if cfg.Input == "-" {
		in.name = "stdin"
		if cfg.ID == "" {
			return nil, usagef("reading stdin needs -id BACKFILL (the default id hashes a file's content, which stdin cannot be read twice for)")
		}
		if in.format == "" {
			in.format = CSV
			if cfg.Spec.Kind == jobs.KindEmailValidate {
				in.format = Text
			}
		}
		in.stdin = cfg.Stdin
		if cfg.Strict { // -strict reads twice: keep a copy on disk
			f, err := os.CreateTemp("", "enqueue-stdin-*")
			if err != nil {
				return nil, usagef("stdin: spooling for -strict: %v", err)
			}
			in.file, in.temp = f, f.Name()
			if _, err := io.Copy(f, cfg.Stdin); err != nil {
				in.close()
				return nil, usagef("stdin: spooling for -strict: %v", err)
			}
		}
		if cfg.Rejects == "" {
			cfg.Rejects = RejectsPath(cfg.ID, in.format)
		}
	} else {
		f, err := os.Open(cfg.Input)
		if err != nil {
			return nil, usagef("%s: %v", cfg.Input, errors.Unwrap(err))
		}
		in.file = f
		if st, err := f.Stat(); err == nil {
			if st.IsDir() {
				f.Close()
				return nil, usagef("%s is a directory", cfg.Input)
			}
			in.size = st.Size()
		}
		if in.format == "" {
			ff, ok := FormatOf(cfg.Input)
			if !ok {
				f.Close()
				return nil, usagef("%s: cannot tell the format from the extension (.csv, .jsonl, .ndjson, .txt, optionally .gz); use -format", cfg.Input)
			}
			in.format = ff
		}
		if cfg.Rejects == "" {
			cfg.Rejects = RejectsPath(cfg.Input, in.format)
		}
	}
	return &Backfill{cfg: cfg, in: in}, nil
}

// Input names the input: the file, or "stdin".
func (b *Backfill) Input() string { return b.in.name }

// Rejects is the rejects file's path.
func (b *Backfill) Rejects() string { return b.cfg.Rejects }

// Close closes the input and removes stdin's spooled copy.
func (b *Backfill) Close() { b.in.close() }

// Publish derives the backfill id when none was given, runs -strict's
// check, creates the streams that are missing, then reads every row,
// writes the bad ones to the rejects file and publishes the jobs (see the
// package function Publish), and saves the backfill's Record. Jobs stay
// under the server's max_payload less HeaderAllowance.
//
// The Report is returned with every error after the publishing pass
// began. Errors: *StrictError, *UsageError (the rejects file),
// *InputError, *PublishError, or a NATS error.
func (b *Backfill) Publish(ctx context.Context, nc *nats.Conn) (*Report, error) {
	cfg, in := &b.cfg, b.in
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	// The server's max_payload counts headers too (Nats-Msg-Id, ...).
	if mp := int(nc.MaxPayload()) - HeaderAllowance; mp > 0 && mp < cfg.Spec.MaxBytes {
		cfg.Spec.MaxBytes = mp
	}
	if cfg.ID == "" {
		if _, err := in.file.Seek(0, io.SeekStart); err != nil {
			return nil, &InputError{Err: err}
		}
		if cfg.ID, err = DeriveID(cfg.Input, cfg.Spec.Fingerprint(in.format), in.file); err != nil {
			return nil, &InputError{Err: fmt.Errorf("%s: %w", in.name, err)}
		}
	}
	if cfg.Strict {
		n, err := b.check(ctx)
		if err != nil {
			return nil, err
		}
		if n > 0 {
			return nil, &StrictError{Input: in.name, Rejects: cfg.Rejects, Rejected: n}
		}
	}
	if err := EnsureStreams(ctx, js, cfg.Streams); err != nil {
		return nil, err
	}
	// Wait reads what is stored from now on, by sequence: clocks differ.
	if cfg.Wait {
		if b.resultsFrom, err = NextSeq(ctx, js, jobs.ResultsStream); err == nil {
			b.dlqFrom, err = NextSeq(ctx, js, jobs.DLQStream)
		}
		if err != nil {
			return nil, err
		}
	}

	r, cnt, zc, header, err := in.open(cfg.Spec)
	if err != nil {
		return nil, err
	}
	defer zc.Close()
	rf, err := NewRejectFile(cfg.Rejects, in.format, header)
	if err != nil {
		return nil, usagef("rejects file: %v", err)
	}
	st := &Stats{}
	rep := &Report{ID: cfg.ID, Input: in.name, Rejects: cfg.Rejects, Stats: st}
	start := cfg.Now()
	var stopped func()
	if cfg.Hooks.Started != nil {
		stopped = cfg.Hooks.Started(Progress{ID: cfg.ID, Input: in.name, Size: in.size, Read: cnt, Stats: st})
	}
	perr := Publish(ctx, nc, cfg.Spec.Kind, r, NewChunker(cfg.ID, cfg.Spec), Options{
		Stats:    st,
		Reject:   b.reject(rf),
		Priority: cfg.Priority,
	})
	if stopped != nil {
		stopped()
	}
	if err := rf.Close(); err != nil && perr == nil {
		perr = usagef("rejects file %s: %v", cfg.Rejects, err)
	}
	rep.Elapsed = cfg.Now().Sub(start)
	if perr != nil {
		return rep, perr
	}
	b.published = st
	rep.RecordErr = b.saveRecord(ctx, js, Record{ID: cfg.ID, Kind: cfg.Spec.Kind, Target: cfg.Spec.Target, Account: cfg.Spec.Account,
		Jobs: int(st.Jobs.Load()), Items: int(st.Items.Load()), Rejected: int(st.Rejected.Load()),
		Source: in.source(), Created: cfg.Now().UTC().Truncate(time.Second)})
	return rep, nil
}

// reject writes bad rows to rf and tells Hooks.Rejected.
func (b *Backfill) reject(rf *RejectFile) func(*RowError) error {
	return func(e *RowError) error {
		if err := rf.Write(e); err != nil {
			return usagef("rejects file %s: %v", rf.Path, err)
		}
		if b.cfg.Hooks.Rejected != nil {
			b.cfg.Hooks.Rejected(e, rf.Count())
		}
		return nil
	}
}

// check is -strict's first pass: every row checked, bad ones to the
// rejects file. It returns the number of bad rows.
func (b *Backfill) check(ctx context.Context) (int64, error) {
	r, _, zc, header, err := b.in.open(b.cfg.Spec)
	if err != nil {
		return 0, err
	}
	defer zc.Close()
	rf, err := NewRejectFile(b.cfg.Rejects, b.in.format, header)
	if err != nil {
		return 0, usagef("rejects file: %v", err)
	}
	st := &Stats{}
	err = Check(ctx, r, NewChunker(b.cfg.ID, b.cfg.Spec), Options{Stats: st, Reject: b.reject(rf)})
	if cerr := rf.Close(); err == nil && cerr != nil {
		err = usagef("rejects file %s: %v", b.cfg.Rejects, cerr)
	}
	return st.Rejected.Load(), err
}

// saveRecord keeps the backfill's record in CRMSYNC_BACKFILLS for status.
func (b *Backfill) saveRecord(ctx context.Context, js jetstream.JetStream, rec Record) error {
	kv, err := EnsureRecords(ctx, js, b.cfg.Records)
	if err == nil {
		err = SaveRecord(ctx, kv, rec)
	}
	return err
}

// Wait follows the results and dead letters of the jobs Publish sent until
// each has an outcome, or Config.Timeout passes, or ctx is done. When the
// run found duplicates or jobs already done it reads the streams from
// their start (those jobs may have finished before). The Summary comes with every error but a
// NATS one: an *IncompleteError when it stopped early.
func (b *Backfill) Wait(ctx context.Context, js jetstream.JetStream) (*Summary, error) {
	st := b.published
	if st == nil {
		return nil, errors.New("backfill: Wait before a successful Publish")
	}
	resultsFrom, dlqFrom := b.resultsFrom, b.dlqFrom
	if st.Duplicates.Load() > 0 || st.Done.Load() > 0 {
		resultsFrom, dlqFrom = 0, 0 // some results may be from the earlier run
	}
	if b.cfg.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, b.cfg.Timeout)
		defer cancel()
	}
	expected := int(st.Jobs.Load())
	sum, err := Follow(ctx, js, b.cfg.ID, b.cfg.Spec.Kind, expected, FollowOptions{ResultsFrom: resultsFrom, DLQFrom: dlqFrom, Progress: b.cfg.Hooks.Finished})
	if err != nil && sum != nil && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)) {
		return sum, &IncompleteError{ID: b.cfg.ID, Missing: sum.Missing, Expected: expected, Err: err}
	}
	return sum, err
}

// input is the opened input: a file (seekable, for the id hash and
// -strict's first pass) or stdin.
type input struct {
	name   string // file name, or "stdin"
	file   *os.File
	stdin  io.Reader
	size   int64 // bytes, 0 when unknown
	format Format
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

// open returns a reader over the rows from the start, the byte counter
// for progress, the decompressor to close and the CSV header (nil for
// other formats).
func (in *input) open(spec Spec) (Reader, *Counter, io.Closer, []string, error) {
	var raw io.Reader = in.stdin
	if in.file != nil {
		if _, err := in.file.Seek(0, io.SeekStart); err != nil {
			return nil, nil, nil, nil, &InputError{Err: err}
		}
		raw = in.file
	}
	cnt := NewCounter(raw)
	r, zc, err := Decompress(cnt)
	if err != nil {
		return nil, nil, nil, nil, &InputError{Err: fmt.Errorf("%s: %w", in.name, err)}
	}
	switch in.format {
	case CSV:
		cr, err := NewCSVReader(r, spec)
		if err != nil {
			zc.Close()
			return nil, nil, nil, nil, fmt.Errorf("%s: %w", in.name, err)
		}
		c := cr.(*csvReader)
		if in.file != nil {
			// A file cannot block a read, so the read-ahead always stops.
			zc = readAheadCloser{stop: c.readAhead(), Closer: zc}
		}
		return c, cnt, zc, c.Header(), nil
	case JSONL:
		return NewJSONLReader(r, spec), cnt, zc, nil, nil
	default:
		return NewTextReader(r, spec), cnt, zc, nil, nil
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
