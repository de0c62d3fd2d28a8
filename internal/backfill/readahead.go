package backfill

import (
	"errors"
	"io"
	"sync"
)

// readAheadRows is how many rows one read-ahead batch holds: enough that
// handing a batch over costs nothing per row, few enough that two of them
// stay a few hundred kilobytes.
const readAheadRows = 512

// readAheadBatches is how many batches exist: one being filled, one being
// encoded, one waiting between them.
const readAheadBatches = 3

// errReadAheadStopped is what Next returns when called after stop.
var errReadAheadStopped = errors.New("reader closed")

// readAhead reads a CSV reader's rows on a goroutine of its own, up to two
// batches ahead of Next, which then only encodes them: reading (with any
// decompression and the UTF-8 checks) and encoding each take a core, and
// the rows come out the same, in the same order, with the same bad rows
// and the same final error as without it.
type readAhead struct {
	free chan *rowBatch // batches to fill
	full chan *rowBatch // filled batches, in order; closed when the reader stops
	quit chan struct{}
	stop sync.Once
	done sync.WaitGroup

	cur *rowBatch // the batch Next takes rows from
	pos int
}

// rowBatch is rows read ahead, in order.
type rowBatch struct {
	rows   []aheadRow
	fields []string // the fields of all rows, one after the other
	err    error    // after the rows: io.EOF, or why reading stopped
}

// aheadRow is one row: its fields (fields[from:to] of its batch) and
// first line, or a bad row.
type aheadRow struct {
	from, to int
	line     int64
	re       *RowError
}

// readAhead starts reading c's rows on their own goroutine. The returned
// stop must be called once the caller is done with c, read to its end or
// not; it waits for the goroutine, which ends at its next row, so the
// input must not block (a file, not a pipe).
func (c *csvReader) readAhead() (stop func()) {
	a := &readAhead{
		free: make(chan *rowBatch, readAheadBatches),
		full: make(chan *rowBatch, readAheadBatches),
		quit: make(chan struct{}),
	}
	for range readAheadBatches {
		a.free <- &rowBatch{rows: make([]aheadRow, 0, readAheadRows)}
	}
	c.ahead = a
	a.done.Go(func() { a.read(c) })
	return func() {
		a.stop.Do(func() { close(a.quit) })
		a.done.Wait()
	}
}

// read fills batches with c's rows until the input ends or fails, or
// stop is called.
func (a *readAhead) read(c *csvReader) {
	defer close(a.full)
	for {
		var b *rowBatch
		select {
		case b = <-a.free:
		case <-a.quit:
			return
		}
		b.rows, b.fields, b.err = b.rows[:0], b.fields[:0], nil
		for len(b.rows) < readAheadRows {
			fields, line, re, err := c.row()
			if err != nil {
				b.err = err
				break
			}
			r := aheadRow{line: line, re: re, from: len(b.fields)}
			b.fields = append(b.fields, fields...) // the strings are the row's own
			r.to = len(b.fields)
			b.rows = append(b.rows, r)
		}
		select {
		case a.full <- b:
		case <-a.quit:
			return
		}
		if b.err != nil {
			return
		}
	}
}

// next is Next with the rows read ahead.
func (a *readAhead) next(c *csvReader) (Item, error) {
	for {
		if b := a.cur; b != nil && a.pos < len(b.rows) {
			r := b.rows[a.pos]
			a.pos++
			if r.re != nil {
				return Item{}, r.re
			}
			return c.item(b.fields[r.from:r.to:r.to], r.line)
		}
		if b := a.cur; b != nil {
			if b.err != nil {
				return Item{}, b.err // io.EOF, again on every call
			}
			a.free <- b // never blocks: it holds every batch
		}
		b, ok := <-a.full
		if !ok {
			a.cur = nil
			return Item{}, errReadAheadStopped
		}
		a.cur, a.pos = b, 0
	}
}

// readAheadCloser stops a read-ahead before closing what it reads.
type readAheadCloser struct {
	stop func()
	io.Closer
}

func (c readAheadCloser) Close() error {
	c.stop()
	return c.Closer.Close()
}
