package jobs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// splitMarshal is split as it was with json.Marshal: the reference the
// reflection-free split must match byte for byte, and the benchmark's
// baseline.
func splitMarshal(r *Result, limit int) ([][]byte, error) {
	one, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	if len(one) <= limit || len(r.Items) <= 1 {
		return [][]byte{one}, nil
	}
	per := len(r.Items) * limit / len(one) * 9 / 10
	for per = max(per, 1); ; per = max(per/2, 1) {
		var out [][]byte
		fits := true
		parts := (len(r.Items) + per - 1) / per
		for p := 0; p < parts; p++ {
			cp := *r
			cp.Items = r.Items[p*per : min((p+1)*per, len(r.Items))]
			cp.Part, cp.Parts = p+1, parts
			b, err := json.Marshal(&cp)
			if err != nil {
				return nil, err
			}
			if len(b) > limit && per > 1 {
				fits = false
				break
			}
			out = append(out, b)
		}
		if fits {
			return out, nil
		}
	}
}

// marshalResult is json.Marshal(r) through appendJSON, as split encodes a
// result that fits one message.
func marshalResult(r *Result) ([]byte, error) {
	b, err := r.appendJSON(nil)
	if err != nil {
		return json.Marshal(r)
	}
	return b, nil
}

// trickyStrings holds every escape class of encoding/json's appendString.
var trickyStrings = []string{
	"",
	"plain@example.com",
	`quote " and backslash \ and slash /`,
	"<script>alert('x')</script> & more",
	"\b\f\n\r\t",
	"\x00\x01\x07\x0b\x0e\x1f\x7f",
	"bad utf-8: \xff \xc3 \xe2\x82 end\xed\xa0\x80",
	"\xc3",
	"line\u2028sep\u2029para",
	"emoji 😀 and ü and 中文",
	"\ufffd literal replacement char",
	strings.Repeat("a", 300) + "\n",
	"ends with backslash \\",
}

func boolPtr(b bool) *bool { return &b }

// fullItem sets every field of ItemResult.
func fullItem(s string) ItemResult {
	return ItemResult{Email: s, OK: true, Error: s + "e", SubscriberID: s + "s", PersonID: s + "p",
		IsValid: boolPtr(false), Reason: s + "r", MatchedDomain: s + "m", TargetGroup: s + "t"}
}

// fullResult sets every field of Result.
func fullResult() *Result {
	return &Result{ID: "id", Kind: KindEmailValidate, Target: "t", Account: "a", Status: StatusPartial,
		Attempt: 3, Started: time.Date(2026, 12, 1, 17, 0, 0, 123456789, time.UTC), Finished: time.Date(2026, 12, 1, 18, 0, 0, 0, time.UTC),
		Counts: Counts{Total: 2, Succeeded: 1, Failed: 1}, Items: []ItemResult{fullItem("x"), {Email: "y"}},
		Error: "why", DeadLettered: true, Part: 2, Parts: 3}
}

// nonZeroFields fails t for each exported field of v left at its zero
// value, so a field added to the type and not to the encoder fails the
// tests that use v.
func nonZeroFields(t *testing.T, v any) {
	t.Helper()
	rv := reflect.Indirect(reflect.ValueOf(v))
	for i := 0; i < rv.NumField(); i++ {
		if f := rv.Type().Field(i); f.IsExported() && rv.Field(i).IsZero() {
			t.Errorf("%s.%s is not set in the test value; set it, and encode it in resultjson.go", rv.Type().Name(), f.Name)
		}
	}
}

// sameJSON fails t unless v's reflection-free encoding and error equal
// json.Marshal's.
func sameJSON(t *testing.T, name string, got []byte, gotErr error, v any) {
	t.Helper()
	want, wantErr := json.Marshal(v)
	if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
		t.Errorf("%s: error %v, json.Marshal's %v", name, gotErr, wantErr)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s:\n got %s\nwant %s", name, got, want)
	}
}

func resultTable() map[string]*Result {
	cest := time.FixedZone("CEST", 2*3600)
	odd := time.FixedZone("odd", -(9*3600 + 30*60))
	secs := time.FixedZone("LMT", 37) // whole-second offset: "+00:00"
	negSecs := time.FixedZone("LMT", -(23*3600 + 59*60 + 59))
	tt := map[string]*Result{
		"zero":            {},
		"full":            fullResult(),
		"nil items":       {ID: "n", Items: nil},
		"empty items":     {ID: "e", Items: []ItemResult{}},
		"isValid true":    {Items: []ItemResult{{Email: "a", IsValid: boolPtr(true)}}},
		"isValid false":   {Items: []ItemResult{{Email: "a", OK: true, IsValid: boolPtr(false)}}},
		"zero item":       {Items: []ItemResult{{}}},
		"part only":       {Part: 1},
		"parts only":      {Parts: 7},
		"negative ints":   {Attempt: -1, Counts: Counts{Total: -9223372036854775808, Succeeded: 9223372036854775807, Failed: -5}, Part: -2, Parts: -3},
		"nanos":           {Started: time.Date(2026, 1, 2, 3, 4, 5, 1, time.UTC), Finished: time.Date(2026, 1, 2, 3, 4, 5, 120000000, time.UTC)},
		"zone":            {Started: time.Date(2026, 7, 1, 12, 0, 0, 500, cest), Finished: time.Date(2026, 7, 1, 12, 0, 0, 0, odd)},
		"zone seconds":    {Started: time.Date(1850, 1, 1, 0, 0, 0, 0, secs), Finished: time.Date(1850, 1, 1, 0, 0, 0, 0, negSecs)},
		"year 0 and 9999": {Started: time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), Finished: time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)},
		"local now":       {Started: time.Now(), Finished: time.Now().Local()},
		"dead":            {DeadLettered: true, Error: "x", Items: []ItemResult{}},
		"kind":            {Kind: KindContactUpsert, Target: TargetKlickTipp},
	}
	for i, s := range trickyStrings {
		tt[fmt.Sprintf("string %d", i)] = &Result{ID: s, Kind: Kind(s), Target: s, Account: s, Status: s, Error: s,
			Items: []ItemResult{fullItem(s), {Email: s, Error: s, SubscriberID: s, PersonID: s, Reason: s, MatchedDomain: s, TargetGroup: s}}}
	}
	return tt
}

func TestResultJSONIsJSONMarshals(t *testing.T) {
	t.Parallel()
	nonZeroFields(t, fullResult())
	nonZeroFields(t, fullResult().Counts)
	nonZeroFields(t, fullItem("x"))
	for name, r := range resultTable() {
		got, err := marshalResult(r)
		sameJSON(t, name, got, err, r)
		// appendJSON appends, keeping what dst held.
		if b, err := r.appendJSON([]byte("prefix")); err != nil || !bytes.HasPrefix(b, []byte("prefix")) || !bytes.Equal(b[len("prefix"):], got) {
			t.Errorf("%s: appendJSON to a prefix: %v, %s", name, err, b)
		}
	}
}

// Times time.Time.MarshalJSON refuses give json.Marshal's very error.
func TestResultJSONTimeErrors(t *testing.T) {
	t.Parallel()
	for name, tm := range map[string]time.Time{
		"year 10000":  time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		"year -1":     time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
		"zone +24":    time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("", 24*3600)),
		"zone -100":   time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("", -100*3600)),
		"year 123456": time.Date(123456, 1, 1, 0, 0, 0, 0, time.FixedZone("", 3600)),
	} {
		for _, r := range []*Result{{Started: tm}, {Finished: tm, Items: []ItemResult{{}, {}}}} {
			got, err := marshalResult(r)
			if err == nil {
				t.Errorf("%s: no error", name)
			}
			sameJSON(t, name, got, err, r)
			parts, err := r.split(10)
			if _, want := json.Marshal(r); parts != nil || fmt.Sprint(err) != fmt.Sprint(want) {
				t.Errorf("%s: split %d parts, %v; want json.Marshal's error %v", name, len(parts), err, want)
			}
		}
		cp := &checkpoint{Started: tm}
		got, err := cp.marshalJSON()
		sameJSON(t, name+" checkpoint", got, err, cp)
	}
}

func TestCheckpointJSONIsJSONMarshals(t *testing.T) {
	t.Parallel()
	full := &checkpoint{Failures: 2, Attempts: 5, Started: time.Date(2026, 12, 1, 0, 0, 0, 7, time.FixedZone("", -3600)),
		LastError: "klipy: 503 <html>", Items: map[int]ItemResult{}}
	nonZeroFields(t, full)
	// Keys sort as strings: "-1" < "-10" < "0" < "1" < "10" < "100" < "2".
	for _, k := range []int{0, 1, 2, 3, 9, 10, 11, 19, 20, 99, 100, 101, 1000, 250, 25, -1, -10, -2, 1 << 40, math.MinInt64, math.MaxInt64, 1e18} {
		full.Items[k] = fullItem(fmt.Sprint("k", k))
	}
	many := &checkpoint{Items: map[int]ItemResult{}}
	for i := 0; i < 1200; i++ {
		many.Items[i] = ItemResult{Email: fmt.Sprintf("u%d@example.com", i), OK: i%3 == 0}
	}
	for name, cp := range map[string]*checkpoint{
		"zero":        {},
		"full":        full,
		"many":        many,
		"empty items": {Failures: 1, Items: map[int]ItemResult{}}, // omitempty drops an empty map
		"one item":    {Items: map[int]ItemResult{7: {Email: "\u2028<"}}},
		"stored":      {stored: true, short: true, Attempts: 1},
	} {
		got, err := cp.marshalJSON()
		sameJSON(t, name, got, err, cp)
	}
}

// Integer keys sort as their decimal strings, as encoding/json sorts map
// keys, at the extremes and at random.
func TestDecimalKeyOrder(t *testing.T) {
	t.Parallel()
	keys := []int{0, 1, -1, 9, 10, 19, 90, 99, 100, 900, 1000, -9, -10, -100, -2,
		math.MaxInt64, math.MinInt64, math.MaxInt64 - 1, math.MinInt64 + 1, 1e18, 1e18 - 1, 1e17, -1e18, 999999999999999999}
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 2000; i++ {
		keys = append(keys, int(rnd.Int64()>>rnd.IntN(64)), rnd.IntN(2000), -rnd.IntN(2000))
	}
	dk := make([]decimalKey, len(keys))
	for i, k := range keys {
		dk[i] = newDecimalKey(k)
	}
	slices.SortFunc(dk, compareDecimalKeys)
	for i := 1; i < len(dk); i++ {
		a, b := strconv.Itoa(dk[i-1].k), strconv.Itoa(dk[i].k)
		if a > b {
			t.Errorf("%s sorted before %s", a, b)
		}
	}
}

// splitResult is n ClickyID-like items, every one of a different size.
func splitResult(n int) *Result {
	r := &Result{ID: "split", Kind: KindEmailValidate, Attempt: 1, Error: "e<>", DeadLettered: true,
		Started: time.Date(2026, 12, 1, 17, 0, 0, 1, time.UTC), Finished: time.Date(2026, 12, 1, 17, 0, 1, 0, time.UTC)}
	for i := 0; i < n; i++ {
		r.Items = append(r.Items, ItemResult{Email: fmt.Sprintf("user%d@uni.example", i*i), OK: i%7 != 0,
			IsValid: boolPtr(i%2 == 0), Reason: strings.Repeat("r", i%40), TargetGroup: "<students>"})
	}
	r.finish()
	return r
}

func TestResultSplitIsTheMarshalSplit(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		n     int
		limit int
	}{
		{0, 1}, {1, 1}, {2, 1}, {2, 10}, {3, 200}, {10, 400}, {10, 1 << 20}, {100, 1000}, {100, 3000},
		{1000, 64 << 10}, {1000, 10000}, {1000, 300}, {5000, 64 << 10}, {37, 1024},
	} {
		r := splitResult(tc.n)
		if tc.n == 0 {
			r.Items = nil
		}
		got, err := r.split(tc.limit)
		want, wantErr := splitMarshal(r, tc.limit)
		if err != nil || wantErr != nil {
			t.Fatalf("%d items, limit %d: %v, %v", tc.n, tc.limit, err, wantErr)
		}
		if len(got) != len(want) {
			t.Errorf("%d items, limit %d: %d parts, want %d", tc.n, tc.limit, len(got), len(want))
			continue
		}
		for i := range got {
			if !bytes.Equal(got[i], want[i]) {
				t.Errorf("%d items, limit %d, part %d:\n got %s\nwant %s", tc.n, tc.limit, i+1, got[i], want[i])
			}
		}
	}
	// Every table result too, whole and split as small as it goes.
	for name, r := range resultTable() {
		for _, limit := range []int{1, 300, 1 << 20} {
			got, err := r.split(limit)
			want, wantErr := splitMarshal(r, limit)
			if fmt.Sprint(err) != fmt.Sprint(wantErr) || fmt.Sprintf("%q", got) != fmt.Sprintf("%q", want) {
				t.Errorf("%s, limit %d:\n got %q %v\nwant %q %v", name, limit, got, err, want, wantErr)
			}
		}
	}
}

// FuzzResultJSON compares the encoders with json.Marshal on results and
// checkpoints built from fuzzed strings, numbers and times. Run it with
// go test -run '^$' -fuzz FuzzResultJSON ./internal/jobs; without -fuzz
// it runs the seeds.
func FuzzResultJSON(f *testing.F) {
	for i, s := range trickyStrings {
		f.Add(s, s+"x", "<&>", int64(i*1e9+i), int32(i*3600-7200), int64(i)-3, uint16(i*2654435761))
	}
	f.Add("", "", "", int64(253402300800), int32(0), int64(0), uint16(0xffff)) // year 10000
	f.Add("a", "b", "c", int64(-62135596801), int32(86399), int64(1<<40), uint16(1))
	f.Fuzz(func(t *testing.T, a, b, c string, unix int64, offset int32, n int64, flags uint16) {
		zone := time.FixedZone(b, int(offset))
		tm := time.Unix(unix, n%1e9).In(zone)
		bit := func(i int) bool { return flags&(1<<i) != 0 }
		pick := func(i int, s string) string {
			if bit(i) {
				return s
			}
			return ""
		}
		item := func(i int) ItemResult {
			it := ItemResult{Email: a, OK: bit(i), Error: pick(i+1, b), SubscriberID: pick(i+2, c),
				PersonID: pick(i+3, a+b), Reason: pick(i+4, c), MatchedDomain: pick(i+5, b), TargetGroup: pick(i+6, a)}
			if bit(i + 7) {
				it.IsValid = boolPtr(bit(i + 8))
			}
			return it
		}
		r := &Result{ID: a, Kind: Kind(b), Target: pick(0, c), Account: pick(1, a), Status: c,
			Attempt: int(n), Started: tm, Finished: time.Unix(n, unix%1e9).UTC(),
			Counts: Counts{Total: int(unix), Succeeded: int(offset), Failed: int(flags)},
			Error:  pick(2, b), DeadLettered: bit(3), Part: int(n % 5), Parts: int(unix % 3)}
		if bit(4) {
			r.Items = []ItemResult{}
			for i := 0; i < int(flags>>12); i++ {
				r.Items = append(r.Items, item(i))
			}
		}
		got, err := marshalResult(r)
		sameJSON(t, "result", got, err, r)
		limit := int(uint(n) % 2048)
		parts, err := r.split(limit)
		want, wantErr := splitMarshal(r, limit)
		if fmt.Sprint(err) != fmt.Sprint(wantErr) || fmt.Sprintf("%q", parts) != fmt.Sprintf("%q", want) {
			t.Errorf("split at %d:\n got %q %v\nwant %q %v", limit, parts, err, want, wantErr)
		}
		cp := &checkpoint{Failures: int(offset), Attempts: int(n), Started: tm, LastError: pick(5, c)}
		if bit(6) {
			cp.Items = map[int]ItemResult{}
			for i := 0; i < int(flags>>12); i++ {
				cp.Items[int(n)+i*int(unix%1000)] = item(i)
			}
		}
		got, err = cp.marshalJSON()
		sameJSON(t, "checkpoint", got, err, cp)
	})
}

// BenchmarkResultSplit encodes a finished job's result as publishResult
// does, with json.Marshal (the old split) and without reflection: a
// 1,000-item ClickyID result, a 200-item KlickTipp one, and the ClickyID
// one split into 64 KiB parts.
func BenchmarkResultSplit(b *testing.B) {
	started := time.Date(2026, 12, 1, 17, 0, 0, 123456789, time.UTC)
	clicky := &Result{ID: "job-0123456789", Kind: KindEmailValidate, Account: DefaultAccount, Attempt: 1,
		Started: started, Finished: started.Add(1500 * time.Millisecond)}
	for i := 0; i < 1000; i++ {
		clicky.Items = append(clicky.Items, ItemResult{Email: fmt.Sprintf("student%04d@uni-example.de", i), OK: true,
			IsValid: boolPtr(i%4 != 0), Reason: "domain_in_target_group", MatchedDomain: "uni-example.de", TargetGroup: "students"})
	}
	clicky.finish()
	klick := &Result{ID: "job-9876543210", Kind: KindContactUpsert, Target: TargetKlickTipp, Account: DefaultAccount, Attempt: 1,
		Started: started, Finished: started.Add(800 * time.Millisecond)}
	for i := 0; i < 200; i++ {
		klick.Items = append(klick.Items, ItemResult{Email: fmt.Sprintf("customer%04d@shop-example.com", i), OK: true,
			SubscriberID: fmt.Sprint(123456789 + i)})
	}
	klick.finish()
	const maxMsg = 1<<20 - 8<<10 // the runner's limit on a default server
	for _, c := range []struct {
		name  string
		r     *Result
		limit int
	}{
		{"clickyid-1000", clicky, maxMsg},
		{"klicktipp-200", klick, maxMsg},
		{"clickyid-1000-64KiB", clicky, 64 << 10},
	} {
		for _, enc := range []struct {
			name  string
			split func(*Result, int) ([][]byte, error)
		}{
			{"marshal", splitMarshal},
			{"append", (*Result).split},
		} {
			b.Run(c.name+"/"+enc.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					parts, err := enc.split(c.r, c.limit)
					if err != nil || len(parts) == 0 {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkCheckpointJSON encodes a checkpoint of 1,000 done ClickyID
// items as saveCheckpoint does, with json.Marshal and without reflection.
func BenchmarkCheckpointJSON(b *testing.B) {
	cp := &checkpoint{Failures: 1, Attempts: 2, Started: time.Date(2026, 12, 1, 17, 0, 0, 1, time.UTC), Items: map[int]ItemResult{}}
	for i := 0; i < 1000; i++ {
		cp.Items[i] = ItemResult{Email: fmt.Sprintf("student%04d@uni-example.de", i), OK: true,
			IsValid: boolPtr(i%4 != 0), Reason: "domain_in_target_group", MatchedDomain: "uni-example.de", TargetGroup: "students"}
	}
	b.Run("marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(cp); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := cp.marshalJSON(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
