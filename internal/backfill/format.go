package backfill

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync/atomic"
)

// Format is an input format.
type Format string

// The input formats.
const (
	CSV   Format = "csv"   // a header row with an email column
	JSONL Format = "jsonl" // one JSON object (or, for emails, string) a line
	Text  Format = "txt"   // one email a line; blank lines and # comments skipped
)

// ParseFormat accepts csv, jsonl (or ndjson) and txt (or text).
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(s) {
	case "csv":
		return CSV, nil
	case "jsonl", "ndjson":
		return JSONL, nil
	case "txt", "text":
		return Text, nil
	}
	return "", fmt.Errorf("format %q is not csv, jsonl or txt", s)
}

// FormatOf guesses the format from a file name's extension, ignoring a
// trailing .gz: .csv, .jsonl or .ndjson, .txt. It reports false when the
// extension says nothing.
func FormatOf(name string) (Format, bool) {
	name = strings.TrimSuffix(strings.ToLower(name), ".gz")
	switch filepath.Ext(name) {
	case ".csv":
		return CSV, true
	case ".jsonl", ".ndjson":
		return JSONL, true
	case ".txt":
		return Text, true
	}
	return "", false
}

// Counter counts the bytes read through it; Load may be called from any
// goroutine (progress reporting).
type Counter struct {
	r io.Reader
	n atomic.Int64
}

// NewCounter counts the bytes read from r.
func NewCounter(r io.Reader) *Counter { return &Counter{r: r} }

func (c *Counter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// Load returns the bytes read so far.
func (c *Counter) Load() int64 { return c.n.Load() }

// Decompress returns r, transparently gunzipped when it starts with the
// gzip magic bytes. Close the returned closer when done (it does not close
// r).
func Decompress(r io.Reader) (io.Reader, io.Closer, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	magic, err := br.Peek(2)
	if err != nil && err != io.EOF {
		return nil, nil, err
	}
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, fmt.Errorf("gzip: %w", err)
		}
		return bufio.NewReaderSize(zr, 64<<10), zr, nil
	}
	return br, io.NopCloser(nil), nil
}
