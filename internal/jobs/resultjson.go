package jobs

import (
	"cmp"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"sync"
	"time"

	"crmsync/internal/jsonstr"
)

// This file encodes results and checkpoints without reflection. The output
// is byte-identical to json.Marshal's for every value (field order,
// omitempty, HTML escaping, time.Time.MarshalJSON); the differential and
// fuzz tests in resultjson_test.go compare the two. A field added to
// Result, Counts, ItemResult or checkpoint must be added here too: the
// tests fill every field and fail until it is.

// errTimeJSON marks a time that time.Time.MarshalJSON refuses (a year
// outside [0,9999], a zone hour outside [0,23]); the callers then encode
// with json.Marshal, which returns its own error for it.
var errTimeJSON = errors.New("time not encodable as JSON")

// appendJSON appends r as json.Marshal(r) encodes it. It returns
// errTimeJSON when Started or Finished cannot be encoded; the bytes
// appended then are a partial encoding, to be discarded.
func (r *Result) appendJSON(dst []byte) ([]byte, error) {
	dst, err := r.appendHead(dst)
	if err != nil {
		return dst, err
	}
	dst = r.appendItems(dst)
	return r.appendTail(dst, r.Part, r.Parts), nil
}

// appendItems appends the value of r's items: null when nil, else an array.
func (r *Result) appendItems(dst []byte) []byte {
	if r.Items == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, '[')
	for i := range r.Items {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = r.Items[i].appendJSON(dst)
	}
	return append(dst, ']')
}

// appendHead appends r's fields before the items' value, up to and
// including `"items":`.
func (r *Result) appendHead(dst []byte) ([]byte, error) {
	dst = append(dst, `{"id":`...)
	dst = jsonstr.Append(dst, r.ID)
	dst = append(dst, `,"kind":`...)
	dst = jsonstr.Append(dst, string(r.Kind))
	dst = appendOmitEmpty(dst, `,"target":`, r.Target)
	dst = appendOmitEmpty(dst, `,"account":`, r.Account)
	dst = append(dst, `,"status":`...)
	dst = jsonstr.Append(dst, r.Status)
	dst = append(dst, `,"attempt":`...)
	dst = strconv.AppendInt(dst, int64(r.Attempt), 10)
	dst = append(dst, `,"started":`...)
	dst, ok := appendJSONTime(dst, r.Started)
	if !ok {
		return dst, errTimeJSON
	}
	dst = append(dst, `,"finished":`...)
	if dst, ok = appendJSONTime(dst, r.Finished); !ok {
		return dst, errTimeJSON
	}
	dst = append(dst, `,"counts":{"total":`...)
	dst = strconv.AppendInt(dst, int64(r.Counts.Total), 10)
	dst = append(dst, `,"succeeded":`...)
	dst = strconv.AppendInt(dst, int64(r.Counts.Succeeded), 10)
	dst = append(dst, `,"failed":`...)
	dst = strconv.AppendInt(dst, int64(r.Counts.Failed), 10)
	return append(dst, `},"items":`...), nil
}

// appendTail appends r's fields after the items, with part and parts for
// Part and Parts, and the closing brace.
func (r *Result) appendTail(dst []byte, part, parts int) []byte {
	dst = appendOmitEmpty(dst, `,"error":`, r.Error)
	if r.DeadLettered {
		dst = append(dst, `,"deadLettered":true`...)
	}
	if part != 0 {
		dst = append(dst, `,"part":`...)
		dst = strconv.AppendInt(dst, int64(part), 10)
	}
	if parts != 0 {
		dst = append(dst, `,"parts":`...)
		dst = strconv.AppendInt(dst, int64(parts), 10)
	}
	return append(dst, '}')
}

// appendOmitEmpty appends key (`,"name":`) and s as a JSON string, unless
// s is empty: a string field tagged omitempty, as json.Marshal writes it.
func appendOmitEmpty(dst []byte, key, s string) []byte {
	if s == "" {
		return dst
	}
	return jsonstr.Append(append(dst, key...), s)
}

// appendJSON appends it as json.Marshal(it) encodes it.
func (it *ItemResult) appendJSON(dst []byte) []byte {
	dst = append(dst, `{"email":`...)
	dst = jsonstr.Append(dst, it.Email)
	if it.OK {
		dst = append(dst, `,"ok":true`...)
	} else {
		dst = append(dst, `,"ok":false`...)
	}
	dst = appendOmitEmpty(dst, `,"error":`, it.Error)
	dst = appendOmitEmpty(dst, `,"subscriberId":`, it.SubscriberID)
	dst = appendOmitEmpty(dst, `,"personId":`, it.PersonID)
	if it.IsValid != nil {
		if *it.IsValid {
			dst = append(dst, `,"isValid":true`...)
		} else {
			dst = append(dst, `,"isValid":false`...)
		}
	}
	dst = appendOmitEmpty(dst, `,"reason":`, it.Reason)
	dst = appendOmitEmpty(dst, `,"matchedDomain":`, it.MatchedDomain)
	dst = appendOmitEmpty(dst, `,"targetGroup":`, it.TargetGroup)
	return append(dst, '}')
}

// appendJSON appends cp as json.Marshal(cp) encodes it: the items' map
// keys sorted as strings ("10" before "2"), as encoding/json sorts them.
// It returns errTimeJSON when Started cannot be encoded (the bytes
// appended then to be discarded).
func (cp *checkpoint) appendJSON(dst []byte) ([]byte, error) {
	dst = append(dst, `{"failures":`...)
	dst = strconv.AppendInt(dst, int64(cp.Failures), 10)
	dst = append(dst, `,"attempts":`...)
	dst = strconv.AppendInt(dst, int64(cp.Attempts), 10)
	dst = append(dst, `,"started":`...)
	dst, ok := appendJSONTime(dst, cp.Started)
	if !ok {
		return dst, errTimeJSON
	}
	dst = appendOmitEmpty(dst, `,"lastError":`, cp.LastError)
	if len(cp.Items) > 0 {
		keys := make([]decimalKey, 0, len(cp.Items))
		for k := range cp.Items {
			keys = append(keys, newDecimalKey(k))
		}
		slices.SortFunc(keys, compareDecimalKeys)
		dst = append(dst, `,"items":{`...)
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, '"')
			dst = strconv.AppendInt(dst, int64(k.k), 10)
			dst = append(dst, `":`...)
			it := cp.Items[k.k]
			dst = it.appendJSON(dst)
		}
		dst = append(dst, '}')
	}
	return append(dst, '}'), nil
}

// decimalKey sorts an int as its decimal string sorts, the order
// encoding/json writes integer map keys in ("-1" < "-10" < "-2" < "0" <
// "1" < "10" < "2"): negatives first ('-' sorts before digits), then by
// the digits, the absolute value scaled to 19 digits (its digits followed
// by zeros: same-width numbers sort as their strings), then the shorter
// first (a prefix sorts first).
type decimalKey struct {
	k      int
	rank   int8 // 0 negative, 1 not
	width  int8 // decimal digits of |k|
	scaled uint64
}

// pow10 holds 10^0 to 10^19.
var pow10 = func() (p [20]uint64) {
	p[0] = 1
	for i := 1; i < len(p); i++ {
		p[i] = p[i-1] * 10
	}
	return p
}()

func newDecimalKey(k int) decimalKey {
	d := decimalKey{k: k, rank: 1, width: 1}
	u := uint64(k)
	if k < 0 {
		d.rank, u = 0, -u // |minInt64| fits in a uint64
	}
	for d.width < 20 && u >= pow10[d.width] {
		d.width++
	}
	d.scaled = u * pow10[19-int(d.width)] // |k| < 10^19: no overflow
	return d
}

func compareDecimalKeys(a, b decimalKey) int {
	if c := cmp.Compare(a.rank, b.rank); c != 0 {
		return c
	}
	if c := cmp.Compare(a.scaled, b.scaled); c != 0 {
		return c
	}
	return cmp.Compare(a.width, b.width)
}

// appendJSONTime appends t as time.Time.MarshalJSON writes it (RFC 3339
// with nanoseconds, quoted). ok is false where MarshalJSON returns an
// error; the checks are those of time's appendStrictRFC3339.
func appendJSONTime(dst []byte, t time.Time) (_ []byte, ok bool) {
	dst = append(dst, '"')
	n0 := len(dst)
	dst = t.AppendFormat(dst, time.RFC3339Nano)
	num2 := func(b []byte) byte { return 10*(b[0]-'0') + (b[1] - '0') }
	switch {
	case dst[n0+len("9999")] != '-': // year must be exactly 4 digits wide
		return dst, false
	case dst[len(dst)-1] != 'Z':
		c := dst[len(dst)-len("Z07:00")]
		if ('0' <= c && c <= '9') || num2(dst[len(dst)-len("07:00"):]) >= 24 {
			return dst, false
		}
	}
	return append(dst, '"'), true
}

// scratchPool holds encoding buffers; one is copied out at its exact size,
// as json.Marshal does, so a result costs one allocation of its length.
var scratchPool = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledScratch bounds the buffers kept for reuse (bytes).
const maxPooledScratch = 8 << 20

func getScratch() *[]byte { return scratchPool.Get().(*[]byte) }

func putScratch(b *[]byte) {
	if cap(*b) > maxPooledScratch {
		return
	}
	*b = (*b)[:0]
	scratchPool.Put(b)
}

// marshalJSON returns json.Marshal(cp)'s bytes and error, encoded without
// reflection unless Started cannot be encoded.
func (cp *checkpoint) marshalJSON() ([]byte, error) {
	s := getScratch()
	defer putScratch(s)
	b, err := cp.appendJSON((*s)[:0])
	*s = b
	if err != nil {
		return json.Marshal(cp)
	}
	return slices.Clone(b), nil
}
