package main

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"
)

// gcPercent reads the collector's current GOGC.
func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

// Not parallel: the collector's setting is the process's.
func TestTuneGC(t *testing.T) {
	if got := tuneGC(64, []string{"GOGC=50"}); !strings.Contains(got, "GOGC=50") {
		t.Errorf("with GOGC set: %q", got)
	}
	if got := tuneGC(0, nil); !strings.Contains(got, "WORKER_GC_HEAP_TARGET_MB=0") {
		t.Errorf("with 0: %q", got)
	}
	debug.SetGCPercent(100)
	got := tuneGC(64, nil)
	if !strings.Contains(got, "64 MiB") {
		t.Errorf("tuned: %q", got)
	}
	// A test binary's heap is far below 64 MiB: after a collection the
	// tuner (a finalizer, run after each one) raises GOGC to its 500 cap.
	deadline := time.Now().Add(10 * time.Second)
	for gcPercent() != 500 {
		if time.Now().After(deadline) {
			t.Fatalf("GOGC is %d after collections, want 500 below the target", gcPercent())
		}
		runtime.GC()
		runtime.Gosched()
	}
}
