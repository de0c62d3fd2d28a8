package limitertest_test

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"

	"crmsync/internal/limiter/limitertest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestClock(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := limitertest.NewClock(t0)
	select {
	case <-c.Until(t0):
	default:
		t.Fatal("Until(now) not ready at once")
	}
	late, early := c.Until(t0.Add(2*time.Second)), c.Until(t0.Add(time.Second))
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := c.AwaitPending(ctx, 2); err != nil || c.Pending() != 2 {
		t.Fatalf("AwaitPending: %v, Pending %d", err, c.Pending())
	}
	c.Advance(time.Second)
	if got := recv(t, early); !got.Equal(t0.Add(time.Second)) {
		t.Fatalf("early fired at %v", got)
	}
	select {
	case <-late:
		t.Fatal("late fired early")
	default:
	}
	c.Advance(time.Second)
	recv(t, late)
	if c.Pending() != 0 || !c.Now().Equal(t0.Add(2*time.Second)) {
		t.Fatalf("Pending %d, Now %v", c.Pending(), c.Now())
	}
}

// recv fails the test when ch has nothing within 5s (Advance is synchronous,
// so a due timer has fired by then).
func recv(t *testing.T, ch <-chan time.Time) time.Time {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		t.Fatal("timer did not fire")
		return time.Time{}
	}
}
