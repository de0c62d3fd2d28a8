package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// WORKER_CPU_PROFILE's file holds a profile (gzipped, as pprof writes it)
// once the worker stops, readable by its owner only.
func TestCPUProfileIsWritten(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cpu.prof")
	stop, err := startCPUProfile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for i := range 1 << 22 {
		n += i % 7
	}
	stop()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte{0x1f, 0x8b}) {
		t.Fatalf("%s is %d bytes, not a gzipped profile (work %d)", path, len(b), n)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
}
