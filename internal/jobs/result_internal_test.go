package jobs

import (
	"encoding/json"
	"fmt"
	"testing"
)

func TestResultSplitKeepsEveryItemUnderTheLimit(t *testing.T) {
	t.Parallel()
	r := &Result{ID: "big", Kind: KindEmailValidate}
	for i := 0; i < 5000; i++ {
		ok := i%2 == 0
		r.Items = append(r.Items, ItemResult{Email: fmt.Sprintf("user%05d@uni.example", i), OK: true, IsValid: &ok, Reason: "domain_not_in_target_group"})
	}
	r.finish()
	const limit = 64 << 10
	parts, err := r.split(limit)
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) < 2 {
		t.Fatalf("%d parts; the test needs a result larger than %d bytes", len(parts), limit)
	}
	seen := 0
	for i, b := range parts {
		if len(b) > limit {
			t.Errorf("part %d is %d bytes", i+1, len(b))
		}
		var p Result
		if err := json.Unmarshal(b, &p); err != nil {
			t.Fatal(err)
		}
		if p.Part != i+1 || p.Parts != len(parts) || p.Counts != r.Counts || p.Status != r.Status {
			t.Errorf("part %d header: %d/%d %+v %s", i+1, p.Part, p.Parts, p.Counts, p.Status)
		}
		for _, it := range p.Items {
			if it.Email != r.Items[seen].Email {
				t.Fatalf("item %d out of order: %s", seen, it.Email)
			}
			seen++
		}
	}
	if seen != len(r.Items) {
		t.Errorf("%d items across parts, want %d", seen, len(r.Items))
	}
	small := &Result{ID: "s", Items: r.Items[:3]}
	if parts, _ := small.split(limit); len(parts) != 1 {
		t.Errorf("small result split into %d", len(parts))
	}
}

func TestFinishStatus(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		oks  []bool
		dead bool
		want string
	}{
		{[]bool{true, true}, false, StatusSucceeded},
		{[]bool{true, false}, false, StatusPartial},
		{[]bool{false, false}, false, StatusFailed},
		{[]bool{true, true}, true, StatusFailed},
	} {
		r := &Result{DeadLettered: tc.dead}
		for _, ok := range tc.oks {
			r.Items = append(r.Items, ItemResult{OK: ok})
		}
		r.finish()
		if r.Status != tc.want {
			t.Errorf("%v dead=%v: %s, want %s", tc.oks, tc.dead, r.Status, tc.want)
		}
	}
}

func TestClassify(t *testing.T) {
	t.Parallel()
	base := fmt.Errorf("boom")
	for _, tc := range []struct {
		err  error
		want outcome
	}{
		{nil, outcomeDone},
		{base, outcomeRetry},
		{Permanent(base), outcomeDeadLetter},
		{fmt.Errorf("wrapped: %w", Permanent(base)), outcomeDeadLetter},
		{RetryAfter(5e9, base), outcomeHandBack},
	} {
		if got, _ := classify(tc.err); got != tc.want {
			t.Errorf("classify(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}
