package reliability

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// Binaries built once per test binary.
var (
	binDir    string
	workerBin string // "" under -short

	natsOnce sync.Once
	natsBin  string
	natsErr  error
)

// seed drives every random choice of the suite; CRMSYNC_RELIABILITY_SEED
// fixes it to replay a run.
var seed uint64

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(suite{m})
}

// suite builds the worker before the tests and writes the report after.
type suite struct{ m *testing.M }

func (s suite) Run() int {
	flag.Parse()
	seed = uint64(time.Now().UnixNano())
	if v := os.Getenv("CRMSYNC_RELIABILITY_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			fmt.Fprintln(os.Stderr, "CRMSYNC_RELIABILITY_SEED:", err)
			return 2
		}
		seed = n
	}
	fmt.Fprintf(os.Stderr, "reliability: seed %d (CRMSYNC_RELIABILITY_SEED to replay)\n", seed)
	dir, err := os.MkdirTemp("", "crmsync-reliability-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binDir = dir
	if !testing.Short() {
		start := time.Now()
		workerBin = filepath.Join(dir, "worker")
		args := []string{"build", "-o", workerBin}
		if os.Getenv("CRMSYNC_RELIABILITY_RACE") == "1" {
			args = append(args, "-race")
		}
		if out, err := exec.Command("go", append(args, "crmsync/cmd/worker")...).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building the worker: %v\n%s", err, out)
			return 1
		}
		fmt.Fprintf(os.Stderr, "reliability: built worker in %s\n", time.Since(start).Round(time.Millisecond))
	}
	code := s.m.Run()
	if path := os.Getenv("CRMSYNC_RELIABILITY_REPORT"); path != "" {
		if err := figures.write(path); err != nil {
			fmt.Fprintln(os.Stderr, "writing the report:", err)
			if code == 0 {
				code = 1
			}
		}
	}
	return code
}

// needWorker skips heavy scenarios under -short.
func needWorker(t *testing.T) {
	t.Helper()
	if testing.Short() || workerBin == "" {
		t.Skip("runs the worker binary; skipped under -short")
	}
}

// natsServerBin builds nats-server from the module in go.mod, once.
func natsServerBin(t testing.TB) string {
	t.Helper()
	natsOnce.Do(func() {
		natsBin = filepath.Join(binDir, "nats-server")
		out, err := exec.Command("go", "build", "-o", natsBin, "github.com/nats-io/nats-server/v2").CombinedOutput()
		if err != nil {
			natsErr = fmt.Errorf("building nats-server: %v\n%s", err, out)
		}
	})
	if natsErr != nil {
		t.Fatal(natsErr)
	}
	return natsBin
}

// rng returns a random source for one scenario, derived from the suite seed
// and the test name so scenarios do not depend on their order.
func rng(t *testing.T) *rand.Rand {
	var h uint64 = 14695981039346656037
	for _, c := range []byte(t.Name()) {
		h = (h ^ uint64(c)) * 1099511628211
	}
	return rand.New(rand.NewPCG(seed, h))
}

// scenario is the figures of one scenario for the report.
type scenario struct {
	Name           string         `json:"name"`
	Jobs           int            `json:"jobs"`
	Items          int            `json:"items"`
	Faults         map[string]int `json:"faultsInjected,omitempty"`
	ItemsLost      int            `json:"itemsLost"`
	DuplicateCalls int            `json:"duplicateApiCalls"`
	DuplicateBound int            `json:"duplicateBound,omitempty"`
	HostileInputs  int            `json:"hostileInputs,omitempty"`
	Kills          int            `json:"kills"`
	Restarts       int            `json:"restarts"`
	DeadLetters    int            `json:"deadLetters"`
	Seconds        float64        `json:"seconds"`
	Notes          []string       `json:"notes,omitempty"`
	Passed         bool           `json:"passed"`
	started        time.Time
}

type report struct {
	mu        sync.Mutex
	scenarios []*scenario
}

var figures report

// record starts the figures of t's scenario; they are completed by the test
// and finalised when it ends.
func record(t *testing.T) *scenario {
	s := &scenario{Name: t.Name(), Faults: map[string]int{}, started: time.Now()}
	t.Cleanup(func() {
		s.Seconds = time.Since(s.started).Round(100 * time.Millisecond).Seconds()
		s.Passed = !t.Failed()
		figures.mu.Lock()
		figures.scenarios = append(figures.scenarios, s)
		figures.mu.Unlock()
		t.Logf("figures: %s", s.line())
	})
	return s
}

func (s *scenario) addFaults(m map[string]int) {
	for k, v := range m {
		s.Faults[k] += v
	}
}

func (s *scenario) note(format string, a ...any) {
	s.Notes = append(s.Notes, fmt.Sprintf(format, a...))
}

func (s *scenario) line() string {
	return fmt.Sprintf("jobs=%d items=%d lost=%d dup_calls=%d (bound %d) hostile=%d kills=%d restarts=%d dlq=%d faults=%v %.1fs %v",
		s.Jobs, s.Items, s.ItemsLost, s.DuplicateCalls, s.DuplicateBound, s.HostileInputs, s.Kills, s.Restarts, s.DeadLetters, s.Faults, s.Seconds, s.Notes)
}

// write stores the report as JSON at path and as Markdown at path.md.
func (r *report) write(path string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	sort.Slice(r.scenarios, func(i, j int) bool { return r.scenarios[i].Name < r.scenarios[j].Name })
	tot := scenario{Name: "total", Faults: map[string]int{}, Passed: true}
	for _, s := range r.scenarios {
		tot.Jobs += s.Jobs
		tot.Items += s.Items
		tot.ItemsLost += s.ItemsLost
		tot.DuplicateCalls += s.DuplicateCalls
		tot.HostileInputs += s.HostileInputs
		tot.Kills += s.Kills
		tot.Restarts += s.Restarts
		tot.DeadLetters += s.DeadLetters
		tot.Seconds += s.Seconds
		tot.Passed = tot.Passed && s.Passed
		tot.addFaults(s.Faults)
	}
	doc := map[string]any{
		"generated": time.Now().UTC().Format(time.RFC3339),
		"seed":      seed,
		"go":        runtime.Version(),
		"race":      raceEnabled,
		"command":   "CRMSYNC_RELIABILITY_REPORT=" + path + " go test -race -count=1 ./internal/reliability",
		"total":     tot,
		"scenarios": r.scenarios,
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return err
	}
	var md strings.Builder
	fmt.Fprintf(&md, "| scenario | jobs | items | faults injected | items lost | duplicate API calls (bound) | hostile inputs | kills | restarts | dead letters | seconds |\n")
	fmt.Fprintf(&md, "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, s := range append(append([]*scenario(nil), r.scenarios...), &tot) {
		bound := ""
		if s.DuplicateBound > 0 {
			bound = fmt.Sprintf(" (≤ %d)", s.DuplicateBound)
		}
		fmt.Fprintf(&md, "| %s | %d | %d | %s | %d | %d%s | %d | %d | %d | %d | %.1f |\n", strings.TrimPrefix(s.Name, "Test"),
			s.Jobs, s.Items, faultString(s.Faults), s.ItemsLost, s.DuplicateCalls, bound, s.HostileInputs, s.Kills, s.Restarts, s.DeadLetters, s.Seconds)
	}
	for _, s := range r.scenarios {
		for _, n := range s.Notes {
			fmt.Fprintf(&md, "\n- %s: %s", strings.TrimPrefix(s.Name, "Test"), n)
		}
	}
	md.WriteString("\n")
	return os.WriteFile(path+".md", []byte(md.String()), 0o644)
}

func faultString(m map[string]int) string {
	if len(m) == 0 {
		return "–"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}
