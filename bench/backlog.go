package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// generateCSV writes rows contacts (email,first_name,last_name,city).
func generateCSV(path string, rows int) (int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	fmt.Fprintln(w, "email,first_name,last_name,city")
	for i := 0; i < rows; i++ {
		fmt.Fprintf(w, "person%d@example.com,Ann%d,Lee,Hamburg\n", i, i%1000)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return 0, err
	}
	st, err := f.Stat()
	f.Close()
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

// enqueueRun runs the enqueue binary on file against w's broker.
func (w *world) enqueueRun(file string, args ...string) (time.Duration, int64, error) {
	log := w.logPath("enqueue")
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "NATS_URL=" + w.b.URL}
	start := time.Now()
	p, err := startProc(log, env, w.bins.enqueue, append(append([]string{"contacts", "-target", "klicktipp", "-quiet"}, args...), file)...)
	if err != nil {
		return 0, 0, err
	}
	if err := p.wait(30 * time.Minute); err != nil {
		b, _ := os.ReadFile(log)
		return 0, 0, fmt.Errorf("enqueue: %v\n%s", err, tail(b))
	}
	return time.Since(start), p.peakRSS(), nil
}

// dumpJobs writes every message on the jobs stream to path as
// length-prefixed bodies, for the anchor to publish again.
func dumpJobs(ctx context.Context, js jetstream.JetStream, path string) (int, error) {
	// A work-queue stream allows only explicit-ack pull consumers.
	c, err := js.CreateOrUpdateConsumer(ctx, "CRMSYNC_JOBS", jetstream.ConsumerConfig{Durable: "bench-dump", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		return 0, err
	}
	info, err := c.Info(ctx)
	if err != nil {
		return 0, err
	}
	want := int(info.NumPending)
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	n := 0
	for n < want {
		batch, err := c.Fetch(1000, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return n, err
		}
		for m := range batch.Messages() {
			var l [4]byte
			binary.BigEndian.PutUint32(l[:], uint32(len(m.Data())))
			w.Write(l[:])
			w.Write(m.Data())
			_ = m.Ack()
			n++
		}
	}
	return n, w.Flush()
}

// anchorMain publishes the dumped job bodies with plain PublishAsync (1,024
// pending at most, every ack checked, Nats-Msg-Id set), no parsing at all.
func anchorMain(args []string) error {
	fs := flag.NewFlagSet("anchor", flag.ExitOnError)
	url := fs.String("nats", "", "NATS URL")
	file := fs.String("file", "", "dump of job bodies")
	if err := fs.Parse(args); err != nil {
		return err
	}
	nc, err := nats.Connect(*url)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(1024))
	if err != nil {
		return err
	}
	ctx := context.Background()
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "ANCHOR", Subjects: []string{"anchor.>"},
		Retention: jetstream.WorkQueuePolicy, Duplicates: time.Hour}); err != nil {
		return err
	}
	f, err := os.Open(*file)
	if err != nil {
		return err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	start := time.Now()
	var futs []jetstream.PubAckFuture
	for i := 0; ; i++ {
		var l [4]byte
		if _, err := io.ReadFull(r, l[:]); err == io.EOF {
			break
		} else if err != nil {
			return err
		}
		body := make([]byte, binary.BigEndian.Uint32(l[:]))
		if _, err := io.ReadFull(r, body); err != nil {
			return err
		}
		m := nats.NewMsg("anchor.jobs")
		m.Data = body
		m.Header.Set(nats.MsgIdHdr, fmt.Sprintf("anchor-%07d", i))
		fut, err := js.PublishMsgAsync(m)
		if err != nil {
			return err
		}
		futs = append(futs, fut)
	}
	for _, fut := range futs {
		select {
		case <-fut.Ok():
		case err := <-fut.Err():
			return err
		}
	}
	fmt.Printf("elapsed %d\n", time.Since(start).Nanoseconds())
	return nil
}

// enqueueBench is B6: enqueue of a CSV of contacts against a plain
// PublishAsync of the very job bodies enqueue produced.
func (b *bench) enqueueBench(ctx context.Context) error {
	rows := b.n(1_000_000)
	csv := filepath.Join(b.dir, "contacts.csv")
	size, err := generateCSV(csv, rows)
	if err != nil {
		return err
	}
	dump := filepath.Join(b.dir, "jobs.dump")
	fmt.Printf("B6: enqueue of %s contacts from CSV (%.1f MB)\n", thousands(rows), float64(size)/1e6)
	type run struct {
		rate float64
		rss  int64
	}
	haveDump := false
	res, err := sides(b, []string{"enqueue", "anchor"}, func(side string) (run, error) {
		w, err := newWorld(b.dir, b.bins, worldConfig{})
		if err != nil {
			return run{}, err
		}
		defer w.Close()
		if side == "anchor" && !haveDump {
			// The anchor needs enqueue's job bodies: make them once.
			if _, _, err := w.enqueueRun(csv, "-id", "dump"); err != nil {
				return run{}, err
			}
			if _, err := dumpJobs(ctx, w.b.js, dump); err != nil {
				return run{}, err
			}
			haveDump = true
			w.Close()
			if w, err = newWorld(b.dir, b.bins, worldConfig{}); err != nil {
				return run{}, err
			}
			defer w.Close()
		}
		if side == "enqueue" {
			el, rss, err := w.enqueueRun(csv, "-id", "bench")
			if err != nil {
				return run{}, err
			}
			b.logf("%-8s %9.0f contacts/s  peak RSS %.1f MB", side, float64(rows)/el.Seconds(), float64(rss)/1e6)
			return run{rate: float64(rows) / el.Seconds(), rss: rss}, nil
		}
		log := w.logPath("anchor")
		p, err := startProc(log, os.Environ(), b.bins.self, "-role", "anchor", "-nats", w.b.URL, "-file", dump)
		if err != nil {
			return run{}, err
		}
		if err := p.wait(30 * time.Minute); err != nil {
			out, _ := os.ReadFile(log)
			return run{}, fmt.Errorf("anchor: %v\n%s", err, tail(out))
		}
		out, _ := os.ReadFile(log)
		var ns int64
		if _, err := fmt.Sscanf(string(out), "elapsed %d", &ns); err != nil {
			return run{}, fmt.Errorf("anchor output %q: %v", tail(out), err)
		}
		rate := float64(rows) / time.Duration(ns).Seconds()
		b.logf("%-8s %9.0f contacts/s  peak RSS %.1f MB", side, rate, float64(p.peakRSS())/1e6)
		return run{rate: rate, rss: p.peakRSS()}, nil
	})
	if err != nil {
		return err
	}
	rate := func(r run) float64 { return r.rate }
	rss := func(r run) float64 { return float64(r.rss) / 1e6 }
	e, a := median(res["enqueue"], rate), median(res["anchor"], rate)
	eRSS := median(res["enqueue"], rss)
	b.rows = append(b.rows, row{ID: "B6", Workload: fmt.Sprintf("enqueue %s contacts from CSV", thousands(rows)),
		Figure: fmt.Sprintf("%s contacts/s, peak RSS %.1f MB", thousands(int(e)), eRSS),
		Anchor: fmt.Sprintf("PublishAsync of the same job bodies: %s contacts/s", thousands(int(a))),
		Ratio:  e / a, Target: "≥ 0.4; RSS ≤ 32 MB", Met: e/a >= 0.4 && eRSS <= 32, chart: "B6 enqueue / PublishAsync"})
	return nil
}

// backlog is B7: the worker started on a stream already holding a backlog
// of 1,000,000 items (20,000 jobs of 50 contacts): its peak memory while it
// works through it, and the time from its start to its first result.
func (b *bench) backlog(ctx context.Context) error {
	rows := b.n(1_000_000)
	csv := filepath.Join(b.dir, "backlog.csv")
	if _, err := generateCSV(csv, rows); err != nil {
		return err
	}
	fmt.Printf("B7: worker on a backlog of %s items (%s jobs of 50)\n", thousands(rows), thousands(rows/50))
	type run struct {
		first time.Duration
		rss   int64
	}
	res, err := sides(b, []string{"crmsync"}, func(string) (run, error) {
		w, err := newWorld(b.dir, b.bins, worldConfig{})
		if err != nil {
			return run{}, err
		}
		defer w.Close()
		if _, _, err := w.enqueueRun(csv, "-id", "backlog", "-batch", "50"); err != nil {
			return run{}, err
		}
		follow, err := followResults(ctx, w.b.js, "CRMSYNC_RESULTS")
		if err != nil {
			return run{}, err
		}
		addr, err := freeAddr()
		if err != nil {
			return run{}, err
		}
		start := time.Now()
		p, err := startProc(w.logPath("worker"), w.workerEnv(addr, 8, nil), b.bins.worker)
		if err != nil {
			return run{}, err
		}
		defer p.stop(10 * time.Second)
		fctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		first, err := follow.until(fctx, func(seen map[string]result) bool { return len(seen) > 0 })
		if err != nil {
			return run{}, err
		}
		// Keep it working through the backlog for a while, then read its peak.
		n := min(rows/50, 400)
		if _, err := follow.until(fctx, func(seen map[string]result) bool { return len(seen) >= n }); err != nil {
			return run{}, err
		}
		rss := p.peakRSS()
		b.logf("first result after %s; peak RSS %.1f MB after %d jobs", first.Sub(start).Round(time.Millisecond), float64(rss)/1e6, n)
		return run{first: first.Sub(start), rss: rss}, nil
	})
	if err != nil {
		return err
	}
	f := median(res["crmsync"], func(r run) float64 { return r.first.Seconds() })
	rss := median(res["crmsync"], func(r run) float64 { return float64(r.rss) / 1e6 })
	b.rows = append(b.rows, row{ID: "B7", Workload: fmt.Sprintf("worker on a %s-item backlog (%s jobs)", thousands(rows), thousands(rows/50)),
		Figure: fmt.Sprintf("peak RSS %.1f MB; first result %.2f s after start", rss, f),
		Anchor: "", Ratio: rss, NoRatio: true, Target: "≤ 100 MB; ≤ 1 s", Met: rss <= 100 && f <= 1, chart: ""})
	return nil
}
