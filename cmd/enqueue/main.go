// Command enqueue loads backfills into crmsync: it reads contacts or emails
// from CSV, JSON Lines or text files (gzip or not, or stdin), publishes them
// as jobs, optionally waits for their results, and inspects and replays
// dead letters.
//
//	enqueue contacts -target klicktipp|klipy [flags] FILE|-
//	enqueue validate [-target-groups tg1,tg2] [-offers o1] [-mode any|all] [flags] FILE|-
//	enqueue status BACKFILL
//	enqueue dlq list | show SEQ | replay [SEQ...|-all] | purge -yes
//	enqueue accounts invite -account NAME -username USER [-expires 168h] | list | revoke NAME | rotate-master-key
//
// It connects with the worker's NATS_* variables; with NATS_URL empty it
// dials the worker's embedded server at EMBEDDED_NATS_ADDR.
//
// Exit status: 0 all good; 1 rows rejected, or (with -wait, status) jobs
// not all succeeded, or a dead letter not found; 2 usage, configuration or
// unreadable input; 3 NATS unreachable or a publish failed.
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"golang.org/x/term"
)

// memoryLimit is the soft memory limit enqueue runs under unless
// GOMEMLIMIT says otherwise: its working set is a row, the job being built
// and at most 8 MiB of jobs awaiting their acks, so the collector need not
// let the heap grow to twice that.
const memoryLimit = 24 << 20

func main() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	m := &Main{
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Environ: os.Environ(),
		Terminal: drawsBars(os.Stderr),
	}
	code := m.Run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

// drawsBars reports whether progress bars can be drawn on f: a terminal
// with a width. A terminal that reports no size (0 columns, as some CI
// runners' and containers' ptys do) gets the plain progress lines.
func drawsBars(f *os.File) bool {
	fd := int(f.Fd())
	if !term.IsTerminal(fd) {
		return false
	}
	w, _, err := term.GetSize(fd)
	return err == nil && w > 0
}
