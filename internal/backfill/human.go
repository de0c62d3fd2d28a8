package backfill

import "strconv"

// Num formats n for people, with thousands separators: 1,234,567. Every
// count enqueue and status print goes through it.
func Num(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := n < 0
	if neg {
		s = s[1:]
	}
	b := make([]byte, 0, len(s)+len(s)/3+1)
	if neg {
		b = append(b, '-')
	}
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			b = append(b, ',')
		}
		b = append(b, s[i])
	}
	return string(b)
}

// Plural formats n and the noun that goes with it: "1 row", "2 rows",
// "1,000 rows".
func Plural(n int64, one, many string) string {
	if n == 1 || n == -1 {
		return Num(n) + " " + one
	}
	return Num(n) + " " + many
}
