package main

import (
	"strconv"
	"strings"
	"sync"

	"github.com/bytedance/gopkg/util/gctuner"
)

// tuneGC lets the garbage collector run less often while the heap is
// smaller than targetMB MiB: the worker's live heap is a few MiB while it
// allocates tens of MiB a second (request and response bodies), so with
// Go's default GOGC=100 it collects every few MiB, a tenth of its CPU.
// gctuner sets GOGC after each collection so the next one comes near the
// target, between 100 (Go's default, whatever the heap) and 500. A GOGC in
// environ is the operator's choice and wins; targetMB 0 turns it off. It
// returns what it did, for the start log line. The collector is the
// process's: the first call that tunes it sets it up, later ones (tests
// running the worker again) leave it as it is.
func tuneGC(targetMB int, environ []string) string {
	for _, kv := range environ {
		if v, ok := strings.CutPrefix(kv, "GOGC="); ok && v != "" {
			return "GOGC=" + v + " from the environment"
		}
	}
	if targetMB <= 0 {
		return "Go's default (WORKER_GC_HEAP_TARGET_MB=0)"
	}
	gcOnce.Do(func() {
		gctuner.SetMinGCPercent(100)
		gctuner.SetMaxGCPercent(500)
		gctuner.Tuning(uint64(targetMB) << 20)
	})
	return "tuned below a heap of " + strconv.Itoa(targetMB) + " MiB (WORKER_GC_HEAP_TARGET_MB)"
}

// gcOnce guards the tuner's setup: gctuner's settings are process-wide and
// not safe to change while it runs.
var gcOnce sync.Once
