package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"crmsync/internal/deadletter"
)

func (m *Main) dlq(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return fail(exitUsage, "dlq: give list, show SEQ, replay [SEQ...|-all] or purge -yes")
	}
	fs := flag.NewFlagSet("enqueue dlq "+args[0], flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	all := fs.Bool("all", false, "replay: every dead letter")
	yes := fs.Bool("yes", false, "purge: really delete every dead letter")
	pos, err := parse(fs, args[1:])
	if err != nil {
		return fail(exitUsage, "")
	}
	var seqs []uint64
	for _, p := range pos {
		n, err := strconv.ParseUint(p, 10, 64)
		if err != nil || n == 0 {
			return fail(exitUsage, "dlq %s: %q is not a sequence number", args[0], p)
		}
		seqs = append(seqs, n)
	}
	switch args[0] {
	case "list":
		if len(seqs) > 0 {
			return fail(exitUsage, "dlq list takes no arguments")
		}
	case "show":
		if len(seqs) != 1 {
			return fail(exitUsage, "dlq show: give one SEQ")
		}
	case "replay":
		if (len(seqs) == 0) == !*all {
			return fail(exitUsage, "dlq replay: give SEQ... or -all")
		}
	case "purge":
		if !*yes {
			return fail(exitUsage, "dlq purge deletes every dead letter: add -yes")
		}
	default:
		return fail(exitUsage, "dlq: unknown command %q (list, show, replay, purge)", args[0])
	}
	cfg, err := m.loadConfig()
	if err != nil {
		return err
	}
	c, err := m.connect(ctx, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	notFound := func(err error) error {
		if errors.Is(err, deadletter.ErrNotFound) {
			return fail(exitRejects, "%v", err)
		}
		return fail(exitNATS, "%v", err)
	}
	switch args[0] {
	case "list":
		tw := tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SEQ\tTIME\tSUBJECT\tJOB\tATTEMPTS\tREASON")
		n := 0
		err := deadletter.Each(ctx, c.js, func(l deadletter.Letter) error {
			n++
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", l.Seq, l.Time.UTC().Format(time.RFC3339), printable(l.Subject, false), printable(l.JobID, false), printable(l.Attempts, false), printable(l.Reason, false))
			return nil
		})
		tw.Flush()
		if err != nil {
			return fail(exitNATS, "reading dead letters: %v", err)
		}
		fmt.Fprintln(m.Stderr, plural(int64(n), "dead letter", "dead letters"))
	case "show":
		l, err := deadletter.Get(ctx, c.js, seqs[0])
		if err != nil {
			return notFound(err)
		}
		fmt.Fprintf(m.Stdout, "seq:     %d\ntime:    %s\nsubject: %s\n", l.Seq, l.Time.UTC().Format(time.RFC3339), printable(l.Subject, false))
		keys := make([]string, 0, len(l.Header))
		for k := range l.Header {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			for _, v := range l.Header[k] {
				fmt.Fprintf(m.Stdout, "%s: %s\n", printable(k, false), printable(v, false))
			}
		}
		fmt.Fprintln(m.Stdout)
		var buf bytes.Buffer
		if json.Indent(&buf, l.Data, "", "  ") == nil {
			fmt.Fprintln(m.Stdout, printable(buf.String(), true))
		} else {
			fmt.Fprintln(m.Stdout, printable(string(l.Data), true))
		}
	case "replay":
		if *all {
			if err := deadletter.Each(ctx, c.js, func(l deadletter.Letter) error { seqs = append(seqs, l.Seq); return nil }); err != nil {
				return fail(exitNATS, "reading dead letters: %v", err)
			}
		}
		var failed error
		nfailed := 0
		for _, s := range seqs {
			r, err := deadletter.Replay(ctx, c.js, s)
			if err != nil {
				fmt.Fprintln(m.Stderr, "enqueue: "+err.Error())
				nfailed++
				if failed == nil || errors.Is(failed, deadletter.ErrNotFound) {
					failed = err
				}
				continue
			}
			note := ""
			if r.Duplicate {
				note = " (already replayed before: deduplicated)"
			}
			fmt.Fprintf(m.Stdout, "replayed dlq seq %d to %s as %s%s\n", r.Seq, r.Subject, r.MsgID, note)
		}
		if failed != nil {
			e := notFound(failed).(*exitError)
			e.msg = fmt.Sprintf("%s of %s not replayed", num(int64(nfailed)), plural(int64(len(seqs)), "dead letter", "dead letters"))
			return e
		}
		fmt.Fprintf(m.Stderr, "%s replayed\n", plural(int64(len(seqs)), "dead letter", "dead letters"))
	case "purge":
		n, err := deadletter.Purge(ctx, c.js)
		if err != nil {
			return fail(exitNATS, "purging dead letters: %v", err)
		}
		fmt.Fprintf(m.Stdout, "purged %s\n", plural(int64(n), "dead letter", "dead letters"))
	}
	return nil
}

// printable returns s safe to print on a terminal: control characters
// (but line ends and tabs when multiline), bidirectional overrides and
// bytes that are not UTF-8 are written as Go escapes (\x1b, \u202e), so
// a dead letter cannot drive the terminal that shows it.
func printable(s string, multiline bool) string {
	var b strings.Builder
	for i, w := 0, 0; i < len(s); i += w {
		r, n := utf8.DecodeRuneInString(s[i:])
		w = n
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case multiline && (r == '\n' || r == '\t'):
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+n])
		}
	}
	return b.String()
}
