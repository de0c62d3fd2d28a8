package klipytest

import (
	"net/http"
	"strconv"
)

// admit counts one request of k against its key's limit, then (if that
// admits it) against its organisation's limit, and sets on h the
// X-RateLimit-* headers of the limit that refused it, or of the tighter one
// (fewer remaining) when both admit it. It reports whether the request may go on.
func (s *Server) admit(k APIKey, h http.Header) bool {
	kh := http.Header{}
	if !s.keyLim.Admit(k.Key, kh) {
		copyHeader(h, kh)
		return false
	}
	oh := http.Header{}
	okOrg := s.orgLim.Admit(k.Organisation, oh)
	switch {
	case !okOrg:
		copyHeader(h, oh)
	case remaining(oh) < remaining(kh):
		copyHeader(h, oh)
	default:
		copyHeader(h, kh)
	}
	return okOrg
}

// remaining is X-RateLimit-Remaining, or a huge number when it is absent (the
// limit is off).
func remaining(h http.Header) int {
	n, err := strconv.Atoi(h.Get("X-RateLimit-Remaining"))
	if err != nil {
		return int(^uint(0) >> 1)
	}
	return n
}

func copyHeader(dst, src http.Header) {
	for k, vs := range src {
		dst[k] = vs
	}
}
