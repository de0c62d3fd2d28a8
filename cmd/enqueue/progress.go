package main

import (
	"fmt"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"crmsync/internal/backfill"
)

// progress shows how a backfill goes: a bar on a terminal, else a plain
// line every ProgressEvery. stop ends it and waits for its goroutine.
type progress struct {
	stop func()
	log  func(string) // a message above the bar (or a plain line)
}

func (m *Main) startProgress(quiet bool, name string, size int64, cnt *backfill.Counter, st *backfill.Stats) progress {
	var mu sync.Mutex
	plainLog := func(s string) { mu.Lock(); fmt.Fprintln(m.Stderr, s); mu.Unlock() }
	if quiet {
		return progress{stop: func() {}, log: plainLog}
	}
	start := time.Now()
	line := func() string {
		el := max(time.Since(start).Seconds(), 1e-9)
		return fmt.Sprintf("%s, %s (%s), %s rejected, %s rows/s",
			plural(st.Rows.Load(), "row", "rows"), plural(st.Published.Load()+st.Duplicates.Load(), "job", "jobs"), plural(st.Duplicates.Load(), "duplicate", "duplicates"), num(st.Rejected.Load()), num(int64(float64(st.Rows.Load())/el)))
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	if !m.Terminal {
		wg.Go(func() { every(done, m.ProgressEvery, func() { plainLog(name + ": " + line()) }) })
		return progress{stop: func() { close(done); wg.Wait() }, log: plainLog}
	}
	p := mpb.New(mpb.WithOutput(m.Stderr), mpb.WithWidth(40), mpb.WithRefreshRate(150*time.Millisecond), mpb.WithAutoRefresh())
	info := decor.Any(func(decor.Statistics) string { return line() })
	var bar *mpb.Bar
	if size > 0 {
		bar = p.AddBar(size, mpb.PrependDecorators(decor.Name(name+" "), decor.Percentage()), mpb.AppendDecorators(info))
	} else {
		bar = p.New(0, mpb.SpinnerStyle(), mpb.PrependDecorators(decor.Name(name+" ")), mpb.AppendDecorators(info))
	}
	wg.Go(func() { every(done, 100*time.Millisecond, func() { bar.SetCurrent(cnt.Load()) }) })
	return progress{
		stop: func() {
			close(done)
			wg.Wait()
			bar.SetCurrent(cnt.Load())
			bar.SetTotal(-1, true)
			p.Wait()
		},
		log: func(s string) { fmt.Fprintln(p, s) },
	}
}

// waitProgress shows the jobs finished while waiting for results.
type waitProgress struct {
	set  func(done int)
	stop func()
}

func (m *Main) startWaitProgress(quiet bool, name string, expected int) waitProgress {
	if quiet || expected == 0 {
		return waitProgress{set: func(int) {}, stop: func() {}}
	}
	if !m.Terminal {
		var mu sync.Mutex
		d := 0
		done := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			every(done, m.ProgressEvery, func() {
				mu.Lock()
				n := d
				mu.Unlock()
				fmt.Fprintf(m.Stderr, "%s: %s of %s finished\n", name, num(int64(n)), plural(int64(expected), "job", "jobs"))
			})
		})
		return waitProgress{
			set:  func(n int) { mu.Lock(); d = n; mu.Unlock() },
			stop: func() { close(done); wg.Wait() },
		}
	}
	p := mpb.New(mpb.WithOutput(m.Stderr), mpb.WithWidth(40), mpb.WithAutoRefresh())
	bar := p.AddBar(int64(expected), mpb.PrependDecorators(decor.Name(name+" "), decor.CountersNoUnit("%d / %d jobs")),
		mpb.AppendDecorators(decor.Percentage()))
	return waitProgress{
		set: func(n int) { bar.SetCurrent(int64(n)) },
		stop: func() {
			bar.SetTotal(-1, true)
			p.Wait()
		},
	}
}

// every calls f every d until done is closed.
func every(done <-chan struct{}, d time.Duration, f func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			f()
		}
	}
}
