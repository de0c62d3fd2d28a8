package apistest

import (
	"bytes"
	"io"
	"net/http"
	"sync"
	"time"
)

// Request is one request as the fake received it.
type Request struct {
	Time   time.Time
	Method string
	Path   string
	Query  string
	Header http.Header
	Body   []byte
	Status int // what the fake answered; 0 for a reset or a hang the client gave up on
}

// Recorder keeps every request a fake received. The zero value is ready.
type Recorder struct {
	mu   sync.Mutex
	reqs []Request
}

// Requests returns a copy of the requests recorded so far, in arrival order.
func (r *Recorder) Requests() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Request(nil), r.reqs...)
}

// Count returns how many requests matched method and path ("" matches any).
func (r *Recorder) Count(method, path string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, q := range r.reqs {
		if (method == "" || q.Method == method) && (path == "" || q.Path == path) {
			n++
		}
	}
	return n
}

// Reset forgets the recorded requests.
func (r *Recorder) Reset() {
	r.mu.Lock()
	r.reqs = nil
	r.mu.Unlock()
}

func (r *Recorder) add(q Request) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = append(r.reqs, q)
	return len(r.reqs) - 1
}

func (r *Recorder) setStatus(i, status int) {
	r.mu.Lock()
	if i >= 0 && i < len(r.reqs) {
		r.reqs[i].Status = status
	}
	r.mu.Unlock()
}

// readBody reads the request body (bounded to 16 MiB) and replaces it so the
// next handler can read it again.
func readBody(req *http.Request) []byte {
	if req.Body == nil {
		return nil
	}
	b, _ := io.ReadAll(io.LimitReader(req.Body, 16<<20))
	req.Body.Close()
	req.Body = io.NopCloser(bytes.NewReader(b))
	return b
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}
