package apistest

import (
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"time"
)

// Faults says what share of requests go wrong, and how. Rates are in [0,1]
// and are drawn independently in the order Reset, Hang, Fail, Malformed.
// The zero value injects nothing.
type Faults struct {
	Latency       time.Duration // added before every answer
	FailRate      float64       // answered with FailStatus (default 503) and the API's error body
	FailStatus    int
	HangRate      float64 // held until the client gives up or the server closes (longer than any client timeout)
	ResetRate     float64 // connection closed with a TCP reset before any answer
	MalformedRate float64 // answered 200 with a body that is not the API's JSON
}

// Injector applies Faults. The zero value injects nothing.
type Injector struct {
	mu     sync.Mutex
	f      Faults
	rnd    *rand.Rand
	counts map[string]int
	stop   chan struct{}
	once   sync.Once
}

// Set replaces the faults; seed makes the draws repeatable.
func (in *Injector) Set(f Faults, seed uint64) {
	in.mu.Lock()
	in.f = f
	in.rnd = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	in.mu.Unlock()
}

// Injected returns how many faults of each kind ("fail", "hang", "reset",
// "malformed") have been injected so far.
func (in *Injector) Injected() map[string]int {
	in.mu.Lock()
	defer in.mu.Unlock()
	out := make(map[string]int, len(in.counts))
	for k, v := range in.counts {
		out[k] = v
	}
	return out
}

// Close releases requests held by hang faults.
func (in *Injector) Close() {
	in.once.Do(func() {
		in.mu.Lock()
		if in.stop == nil {
			in.stop = make(chan struct{})
		}
		close(in.stop)
		in.mu.Unlock()
	})
}

func (in *Injector) stopped() <-chan struct{} {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.stop == nil {
		in.stop = make(chan struct{})
	}
	return in.stop
}

// draw picks the fault for one request: "", "reset", "hang", "fail" or "malformed".
func (in *Injector) draw() (string, Faults) {
	in.mu.Lock()
	defer in.mu.Unlock()
	f := in.f
	if in.rnd == nil {
		return "", f
	}
	kind := ""
	switch {
	case f.ResetRate > 0 && in.rnd.Float64() < f.ResetRate:
		kind = "reset"
	case f.HangRate > 0 && in.rnd.Float64() < f.HangRate:
		kind = "hang"
	case f.FailRate > 0 && in.rnd.Float64() < f.FailRate:
		kind = "fail"
	case f.MalformedRate > 0 && in.rnd.Float64() < f.MalformedRate:
		kind = "malformed"
	}
	if kind != "" {
		if in.counts == nil {
			in.counts = map[string]int{}
		}
		in.counts[kind]++
	}
	return kind, f
}

// resetConn closes the client's connection with SO_LINGER 0 so it sees a
// TCP reset. It reports false when the writer cannot be hijacked (HTTP/2).
func resetConn(w http.ResponseWriter) bool {
	hj, ok := w.(http.Hijacker)
	if !ok {
		return false
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		return false
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	conn.Close()
	return true
}
