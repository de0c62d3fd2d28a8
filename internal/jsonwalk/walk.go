package jsonwalk

// Members walks the members of a valid JSON object in order, duplicates
// included. The zero value walks nothing.
type Members struct {
	b []byte
	i int
}

// NewMembers starts a walk of the valid JSON object obj (space around it
// allowed).
func NewMembers(obj []byte) Members { return Members{b: obj, i: SkipSpace(obj, 0) + 1} }

// Next returns the raw key token (quotes included; see KeyText) and the raw
// value of the next member, both slices of the object; ok is false after
// the last member.
func (m *Members) Next() (key, value []byte, ok bool) {
	b, i := m.b, SkipSpace(m.b, m.i)
	if i < len(b) && b[i] == ',' {
		i = SkipSpace(b, i+1)
	}
	if i >= len(b) || b[i] == '}' {
		m.i = len(b)
		return nil, nil, false
	}
	kEnd, _ := SkipString(b, i)
	key = b[i:kEnd]
	i = min(SkipSpace(b, SkipSpace(b, kEnd)+1), len(b)) // past ':'
	vEnd := SkipValue(b, i)
	m.i = vEnd
	return key, b[i:vEnd], true
}

// Elements walks the elements of a valid JSON array in order. The zero
// value walks nothing.
type Elements struct {
	b []byte
	i int
}

// NewElements starts a walk of the valid JSON array arr (space around it
// allowed).
func NewElements(arr []byte) Elements { return Elements{b: arr, i: SkipSpace(arr, 0) + 1} }

// Next returns the raw value of the next element, a slice of the array; ok
// is false after the last element.
func (e *Elements) Next() (value []byte, ok bool) {
	b, i := e.b, SkipSpace(e.b, e.i)
	if i < len(b) && b[i] == ',' {
		i = SkipSpace(b, i+1)
	}
	if i >= len(b) || b[i] == ']' {
		e.i = len(b)
		return nil, false
	}
	end := SkipValue(b, i)
	e.i = end
	return b[i:end], true
}
