package apis

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// ParseBaseURL parses and checks an API base URL. It must be absolute and
// https, except that http is allowed for loopback hosts (127.0.0.0/8, ::1,
// localhost) or when allowInsecure is true. The trailing slash is removed.
// Errors name the URL but never carry user info (it is stripped).
func ParseBaseURL(raw string, allowInsecure bool) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return nil, fmt.Errorf("not a URL")
	}
	u.User = nil
	if u.Host == "" || u.Hostname() == "" {
		return nil, fmt.Errorf("%q has no host", u.Redacted())
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !allowInsecure && !IsLoopback(u.Hostname()) {
			return nil, fmt.Errorf("%q must be https:// (http is allowed only for loopback hosts, or with ALLOW_INSECURE_HTTP)", u.String())
		}
	default:
		return nil, fmt.Errorf("%q must be https://", u.String())
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawQuery, u.Fragment = "", ""
	return u, nil
}

// IsLoopback reports whether host is localhost or a loopback IP address.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
