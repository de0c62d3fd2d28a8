// Command bench measures enqueue against an embedded JetStream server:
// contacts per second for a CSV of -rows contacts (median of -runs), beside
// an anchor that publishes the same file's bytes with plain jetstream
// PublishAsync (200 lines a message, no parsing), and the maximum resident
// memory of enqueue for a file of -rss-rows contacts. Both run as
// subprocesses so that their RSS is their own (getrusage of the child).
//
//	go run ./bench/enqueue                # 1M rows, 3 runs, 5M rows for RSS
//	go run ./bench/enqueue -rows 200000 -rss-rows 0
//
// Run it by hand from the module root (it builds cmd/enqueue with go build).
package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"crmsync/internal/backfill"
	"crmsync/internal/broker"
	"crmsync/internal/jobs"
)

func main() {
	rows := flag.Int("rows", 1_000_000, "contacts in the throughput file")
	rssRows := flag.Int("rss-rows", 5_000_000, "contacts in the memory file (0 skips it)")
	runs := flag.Int("runs", 3, "runs of each; the median is reported")
	anchor := flag.String("anchor", "", "internal: run the anchor publisher on this file")
	url := flag.String("url", "", "internal: NATS URL for -anchor")
	flag.Parse()
	if *anchor != "" {
		if err := runAnchor(*anchor, *url); err != nil {
			fmt.Fprintln(os.Stderr, "anchor:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(*rows, *rssRows, *runs); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(rows, rssRows, runs int) error {
	dir, err := os.MkdirTemp("", "bench-enqueue-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "enqueue")
	if out, err := exec.Command("go", "build", "-o", bin, "crmsync/cmd/enqueue").CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, out)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	file := filepath.Join(dir, "contacts.csv")
	size, err := generate(file, rows)
	if err != nil {
		return err
	}
	srv, err := broker.StartEmbedded(broker.EmbeddedConfig{Addr: "127.0.0.1:0", StoreDir: filepath.Join(dir, "nats")})
	if err != nil {
		return err
	}
	defer srv.Shutdown()
	nc, err := nats.Connect(srv.ClientURL(), nats.Token(srv.Token()))
	if err != nil {
		return err
	}
	defer nc.Close()
	// enqueue and the anchor get the token in the URL (NATS_URL=nats://TOKEN@host:port).
	url := strings.Replace(srv.ClientURL(), "nats://", "nats://"+srv.Token()+"@", 1)
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	if err := backfill.EnsureStreams(ctx, js, jobs.StreamConfig{}); err != nil {
		return err
	}
	stream, err := js.Stream(ctx, jobs.JobsStream)
	if err != nil {
		return err
	}
	fmt.Printf("file: %d contacts, %.1f MB; %d runs each; cores=%d\n", rows, float64(size)/1e6, runs, runtime.NumCPU())

	var enq, anc []time.Duration
	var enqRSS, ancRSS []int64
	for i := 1; i <= runs; i++ {
		if err := stream.Purge(ctx); err != nil {
			return err
		}
		d, rss, err := measure(exec.Command(bin, "contacts", "-target", "klicktipp", "-quiet", "-id", fmt.Sprintf("bench-%d", i), file), url)
		if err != nil {
			return err
		}
		if err := checkStored(ctx, stream, rows/200); err != nil {
			return err
		}
		enq, enqRSS = append(enq, d), append(enqRSS, rss)
		fmt.Printf("  run %d: enqueue %6.2fs %9.0f contacts/s  max RSS %5.1f MB\n", i, d.Seconds(), float64(rows)/d.Seconds(), float64(rss)/1e6)
		if err := stream.Purge(ctx); err != nil {
			return err
		}
		d, rss, err = measure(exec.Command(self, "-anchor", file, "-url", url), "")
		if err != nil {
			return err
		}
		anc, ancRSS = append(anc, d), append(ancRSS, rss)
		fmt.Printf("  run %d: anchor  %6.2fs %9.0f contacts/s  max RSS %5.1f MB\n", i, d.Seconds(), float64(rows)/d.Seconds(), float64(rss)/1e6)
	}
	me, ma := median(enq), median(anc)
	fmt.Printf("median: enqueue %.0f contacts/s (%.2fs), anchor %.0f contacts/s (%.2fs), enqueue/anchor = %.2f\n",
		float64(rows)/me.Seconds(), me.Seconds(), float64(rows)/ma.Seconds(), ma.Seconds(), ma.Seconds()/me.Seconds())
	fmt.Printf("max RSS at %d rows: enqueue %.1f MB, anchor %.1f MB\n", rows, float64(slices.Max(enqRSS))/1e6, float64(slices.Max(ancRSS))/1e6)

	if rssRows > 0 {
		if err := stream.Purge(ctx); err != nil {
			return err
		}
		os.Remove(file)
		big := filepath.Join(dir, "big.csv")
		size, err := generate(big, rssRows)
		if err != nil {
			return err
		}
		d, rss, err := measure(exec.Command(bin, "contacts", "-target", "klicktipp", "-quiet", "-id", "bench-big", big), url)
		if err != nil {
			return err
		}
		if err := checkStored(ctx, stream, rssRows/200); err != nil {
			return err
		}
		fmt.Printf("%d rows (%.0f MB): enqueue %.2fs, %.0f contacts/s, max RSS %.1f MB\n", rssRows, float64(size)/1e6, d.Seconds(), float64(rssRows)/d.Seconds(), float64(rss)/1e6)
		stream.Purge(ctx)
	}
	return nil
}

// measure runs cmd and returns its wall time and peak RSS in bytes, read
// from the child's VmHWM in /proc every 10 ms (getrusage's ru_maxrss of a
// child counts the parent's pages from before exec, so it is no use here).
func measure(cmd *exec.Cmd, url string) (time.Duration, int64, error) {
	cmd.Env = append(os.Environ(), "NATS_URL="+url)
	cmd.Stderr = os.Stderr
	var out bytes.Buffer
	cmd.Stdout = &out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	status := fmt.Sprintf("/proc/%d/status", cmd.Process.Pid)
	var hwm int64
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			d := time.Since(start)
			if err != nil {
				return 0, 0, fmt.Errorf("%s: %v\n%s", cmd.Path, err, out.String())
			}
			return d, hwm, nil
		case <-tick.C:
			if b, err := os.ReadFile(status); err == nil {
				for _, l := range strings.Split(string(b), "\n") {
					var kb int64
					if _, err := fmt.Sscanf(l, "VmHWM: %d kB", &kb); err == nil {
						hwm = max(hwm, kb*1024)
					}
				}
			}
		}
	}
}

func checkStored(ctx context.Context, s jetstream.Stream, want int) error {
	info, err := s.Info(ctx)
	if err != nil {
		return err
	}
	if int(info.State.Msgs) < want {
		return fmt.Errorf("stream holds %d jobs, want %d", info.State.Msgs, want)
	}
	return nil
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func generate(path string, n int) (int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	w.WriteString("email,first_name,last_name,city\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(w, "user%d@example.com,First%d,Last%d,Berlin\n", i, i, i)
	}
	if err := w.Flush(); err != nil {
		return 0, err
	}
	st, _ := f.Stat()
	return st.Size(), f.Close()
}

// runAnchor publishes the file's lines, 200 a message, with PublishAsync
// (1024 pending), and waits for every ack.
func runAnchor(path, url string) error {
	nc, err := nats.Connect(url)
	if err != nil {
		return err
	}
	defer nc.Close()
	var failed atomic.Int64
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(1024),
		jetstream.WithPublishAsyncErrHandler(func(jetstream.JetStream, *nats.Msg, error) { failed.Add(1) }))
	if err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 64<<10)
	br.ReadSlice('\n') // header
	var buf []byte
	n, msgs := 0, 0
	flush := func() error {
		msgs++
		_, err := js.PublishAsync(jobs.KindContactUpsert.Subject(), buf, jetstream.WithMsgID(fmt.Sprintf("anchor-%d-%d", time.Now().UnixNano(), msgs)))
		buf, n = nil, 0
		return err
	}
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			buf = append(buf, line...)
			n++
			if n == 200 {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		if err != nil {
			break
		}
	}
	if n > 0 {
		if err := flush(); err != nil {
			return err
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(time.Minute):
		return fmt.Errorf("acks not complete after a minute")
	}
	if n := failed.Load(); n > 0 {
		return fmt.Errorf("%d publishes failed", n)
	}
	return nil
}
