// Command bench measures crmsync side by side with its anchors in one run
// on this machine: the physical limit (a bare loop making the same HTTP
// calls), the ceiling a call pattern allows, and the pipeline a Go team
// would otherwise build (Watermill + watermill-nats + go-retryablehttp).
// Every claim is a ratio or a count against an anchor measured in the same
// run, the median of interleaved repetitions.
//
//	cd bench && go run .          # full run (about 20 minutes on 2 cores), writes RESULTS.md and chart.svg
//	cd bench && go run . -quick   # a tenth of each size, one repetition (under 3 minutes)
//	cd bench && go run . -only B3,B5
//	cd bench && go run . -only B1 -reps 1 -profile /tmp/prof   # then: go tool pprof -top -cum /tmp/prof/worker-01.prof
//
// It builds crmsync's worker and enqueue, starts an embedded JetStream
// server and the project's fake APIs on loopback for every measured run,
// and runs each side as its own child process.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

func main() {
	if len(os.Args) > 2 && os.Args[1] == "-role" {
		var err error
		switch os.Args[2] {
		case "peer":
			err = peerMain(os.Args[3:])
		case "bare":
			err = bareMain(os.Args[3:])
		case "anchor":
			err = anchorMain(os.Args[3:])
		default:
			err = fmt.Errorf("unknown role %q", os.Args[2])
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, os.Args[2]+":", err)
			os.Exit(1)
		}
		return
	}
	quick := flag.Bool("quick", false, "a tenth of each size and one repetition: proves the program works")
	reps := flag.Int("reps", 3, "interleaved repetitions of each measurement (the median is reported)")
	only := flag.String("only", "", "comma-separated workloads to run (B1,...,B7); default all")
	out := flag.String("out", "RESULTS.md", "where to write the results (empty: nowhere); the chart goes beside it")
	profile := flag.String("profile", "", "a directory each worker run writes its CPU profile to (WORKER_CPU_PROFILE), for go tool pprof")
	flag.Parse()
	b := &bench{scale: 1, reps: *reps, profiles: *profile}
	if *quick {
		b.scale, b.reps = 0.1, 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := b.run(ctx, *only, *out, strings.Join(os.Args[1:], " ")); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func (b *bench) run(ctx context.Context, only, out, args string) error {
	dir, err := os.MkdirTemp("", "crmsync-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	b.dir = dir
	started := time.Now()
	fmt.Println("building the worker and enqueue ...")
	if b.bins, err = build(dir); err != nil {
		return err
	}
	if b.profiles != "" {
		if b.bins.profiles, err = filepath.Abs(b.profiles); err == nil {
			err = os.MkdirAll(b.bins.profiles, 0o755)
		}
		if err != nil {
			return fmt.Errorf("-profile %s: %w", b.profiles, err)
		}
	}
	want := func(id string) bool {
		if only == "" {
			return true
		}
		for _, s := range strings.Split(only, ",") {
			if strings.EqualFold(strings.TrimSpace(s), id) {
				return true
			}
		}
		return false
	}
	steps := []struct {
		ids string
		run func(context.Context) error
	}{
		{"B1 B4", b.upserts},
		{"B2", b.latencyUpserts},
		{"B3", b.rateLimited},
		{"B4", b.validations},
		{"B5", b.live},
		{"B6", b.enqueueBench},
		{"B7", b.backlog},
	}
	for _, s := range steps {
		run := false
		for _, id := range strings.Fields(s.ids) {
			run = run || want(id)
		}
		if !run {
			continue
		}
		if err := s.run(ctx); err != nil {
			return err
		}
	}
	took := time.Since(started)
	printTable(os.Stdout, b.rows)
	fmt.Printf("\n%d cores, %s, %s, took %s\n", runtime.NumCPU(), runtime.Version(), time.Now().UTC().Format("2006-01-02"), took.Round(time.Second))
	if out == "" {
		return nil
	}
	return b.write(out, args, took)
}
