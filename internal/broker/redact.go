package broker

import (
	"net/url"
	"strings"
)

// redact replaces user info (user, password or token) in each
// comma-separated URL.
func redact(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		u, err := url.Parse(strings.TrimSpace(p))
		if err != nil {
			parts[i] = "(unparsable URL)"
			continue
		}
		if u.User != nil {
			u.User = url.User("redacted") // a token may sit in the user part
		}
		parts[i] = u.String()
	}
	return strings.Join(parts, ",")
}

// Redact is redact for callers that name a NATS URL in a log line or an
// error: user info (user, password or token) is replaced.
func Redact(urls string) string { return redact(urls) }
