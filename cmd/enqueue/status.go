package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"crmsync/internal/backfill"
)

// status summarises a backfill from the results and dead letters stored
// now and, when enqueue left one, the backfill's record (its job count).
func (m *Main) status(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("enqueue status", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	top := fs.Int("top", 10, "failure reasons shown")
	pos, err := parse(fs, args)
	if err != nil {
		return fail(exitUsage, "")
	}
	if len(pos) != 1 {
		return fail(exitUsage, "status: give one BACKFILL id")
	}
	if err := backfill.CheckID(pos[0]); err != nil {
		return err
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
	rec, err := backfill.LoadRecord(ctx, c.js, pos[0])
	if err != nil {
		if !errors.Is(err, backfill.ErrNoRecord) {
			fmt.Fprintf(m.Stderr, "enqueue: warning: reading the record of backfill %s: %v; its total is unknown\n", pos[0], err)
		}
		rec = nil
	}
	sum, err := backfill.Status(ctx, c.js, pos[0], rec)
	if err != nil {
		return fail(exitNATS, "reading results: %v", err)
	}
	if rec == nil && sum.Seen == 0 && sum.Highest == 0 {
		return fail(exitRejects, "backfill %s: no results or dead letters found (not run yet, still queued, or older than RESULTS_MAX_AGE)", pos[0])
	}
	sum.Print(m.Stdout, *top)
	if !sum.OK() {
		return exitCode(exitRejects)
	}
	return nil
}
