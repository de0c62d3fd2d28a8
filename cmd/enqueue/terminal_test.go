//go:build linux

package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// openPTY opens a pseudo-terminal of rows x cols and returns its two ends.
func openPTY(t *testing.T, rows, cols uint16) (master, tty *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	t.Cleanup(func() { master.Close() })
	ioctl := func(req uintptr, arg unsafe.Pointer) {
		if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, master.Fd(), req, uintptr(arg)); e != 0 {
			t.Skipf("pty ioctl %x: %v", req, e)
		}
	}
	var unlock int32
	ioctl(syscall.TIOCSPTLCK, unsafe.Pointer(&unlock))
	var n uint32
	ioctl(syscall.TIOCGPTN, unsafe.Pointer(&n))
	ws := [4]uint16{rows, cols, 0, 0}
	ioctl(syscall.TIOCSWINSZ, unsafe.Pointer(&ws))
	tty, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	t.Cleanup(func() { tty.Close() })
	return master, tty
}

// A terminal that reports no size gets plain progress lines (mpb drew
// nothing on it: no progress at all); one with a size gets bars.
func TestZeroSizeTerminalGetsPlainProgressLines(t *testing.T) {
	t.Parallel()
	if _, tty := openPTY(t, 24, 80); !drawsBars(tty) {
		t.Error("an 80x24 terminal should draw bars")
	}
	if f, err := os.CreateTemp(t.TempDir(), "out"); err == nil && drawsBars(f) {
		t.Error("a file should not draw bars")
	}
	master, tty := openPTY(t, 0, 0)
	if drawsBars(tty) {
		t.Fatal("a 0x0 terminal should get plain lines, not bars")
	}
	// The reader drains the pty all along (a full pty would block the
	// program) and tells when it saw a plain progress line.
	found, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		sc := bufio.NewScanner(master)
		seen := false
		for sc.Scan() {
			if l := sc.Text(); !seen && strings.HasPrefix(l, "enqueue z: ") && strings.Contains(l, " rows/s") {
				seen = true
				close(found)
			}
		}
	}()
	t.Cleanup(func() {
		tty.Close() // the last of the terminal's side: reads of the master then fail, ending the Scan
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			t.Error("the pty reader did not end")
		}
	})
	e := newEnv(t)
	var b strings.Builder
	b.WriteString("email\n")
	for i := range 3000 {
		fmt.Fprintf(&b, "u%d@example.com\n", i)
	}
	p := e.write(t, "z.csv", b.String())
	var out strings.Builder
	m := &Main{Stdout: &out, Stderr: tty, Environ: []string{"NATS_URL=" + e.srv.URL()}, Terminal: drawsBars(tty), ProgressEvery: time.Millisecond}
	if code := m.Run(context.Background(), []string{"contacts", "-target", "klipy", "-batch", "1", "-id", "z", p}); code != 0 {
		t.Fatalf("exit %d", code)
	}
	select {
	case <-found:
	case <-time.After(10 * time.Second):
		t.Fatal("no plain progress line on the 0x0 terminal within 10s")
	}
}
