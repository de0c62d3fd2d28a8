package klicktipp

import "testing"

func TestXCI(t *testing.T) {
	t.Parallel()
	const want = "cZkWFoPs3rLacJ4OpaooJMMOcb/fLxbZpeeOzJFCGh1jdXN0b21lci1rZXk="
	for _, keys := range [][2]string{
		{"0123456789abcdef", "customer-key"},
		{" 0123456789ABCDEF\n", "  customer-key "}, // trimmed, lower-cased
		{"0123 4567 89ab cdef", "customer-key"},    // inner spaces removed, as the official Go client does
	} {
		got, err := XCI(keys[0], keys[1])
		if err != nil || got != want {
			t.Errorf("XCI(%q, %q) = %q, %v; want %q", keys[0], keys[1], got, err, want)
		}
	}
	for _, bad := range [][2]string{{"", "c"}, {"abc", "c"}, {"zz", "c"}, {"00", " "}} {
		if got, err := XCI(bad[0], bad[1]); err == nil {
			t.Errorf("XCI(%q, %q) = %q, want error", bad[0], bad[1], got)
		}
	}
}
