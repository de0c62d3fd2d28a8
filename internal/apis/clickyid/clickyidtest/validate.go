package clickyidtest

import (
	"encoding/json"
	"strings"
)

// unit is one requested target group, or one requested offer with its groups.
type unit struct {
	targetGroupID string // set for a requested target group
	offerID       string // set for a requested offer
	groups        []TargetGroup
}

// result is one email's answer, as the API writes it.
type result struct {
	Email             string          `json:"email"`
	IsValid           bool            `json:"isValid"`
	TargetGroup       *groupRef       `json:"targetGroup"`
	MatchedDomain     *string         `json:"matchedDomain"`
	Reason            string          `json:"reason"`
	ValidationDetails json.RawMessage `json:"validationDetails"`
}

// groupRef is the matched target group in a result: an object, as the
// validation reference documents ("Information about the target group used
// for validation"); its members are a guess.
type groupRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type check struct {
	TargetGroupID string `json:"targetGroupId,omitempty"`
	OfferID       string `json:"offerId,omitempty"`
	Matched       bool   `json:"matched"`
	MatchedGroup  string `json:"matchedTargetGroupId,omitempty"`
	MatchedDomain string `json:"matchedDomain,omitempty"`
	groupName     string
}

type details struct {
	Mode        string  `json:"mode"`
	FormatValid bool    `json:"formatValid"`
	Domain      string  `json:"domain,omitempty"`
	Checks      []check `json:"checks"`
}

// Reasons the fake gives.
const (
	ReasonMatched       = "domain_matched"
	ReasonNotInGroup    = "domain_not_in_target_group"
	ReasonInvalidFormat = "invalid_format"
)

// validate answers one email against units in mode "any" or "all".
func validate(email, mode string, units []unit) result {
	res := result{Email: email}
	d := details{Mode: mode, Checks: []check{}}
	domain, ok := emailDomain(email)
	if !ok {
		res.Reason = ReasonInvalidFormat
		res.ValidationDetails, _ = json.Marshal(d)
		return res
	}
	d.FormatValid, d.Domain = true, domain
	matched := 0
	first := -1
	for _, u := range units {
		c := check{TargetGroupID: u.targetGroupID, OfferID: u.offerID}
		for _, g := range u.groups {
			if m, ok := matchDomain(domain, g.Domains); ok {
				c.Matched, c.MatchedGroup, c.MatchedDomain, c.groupName = true, g.ID, m, g.Name
				break
			}
		}
		d.Checks = append(d.Checks, c)
		if c.Matched {
			matched++
			if first < 0 {
				first = len(d.Checks) - 1
			}
		}
	}
	switch mode {
	case "all":
		res.IsValid = len(units) > 0 && matched == len(units)
	default:
		res.IsValid = matched > 0
	}
	if res.IsValid {
		c := d.Checks[first]
		md := c.MatchedDomain
		res.TargetGroup, res.MatchedDomain, res.Reason = &groupRef{ID: c.MatchedGroup, Name: c.groupName}, &md, ReasonMatched
	} else {
		res.Reason = ReasonNotInGroup
	}
	res.ValidationDetails, _ = json.Marshal(d)
	return res
}

// matchDomain reports the first of domains that domain equals or is a
// subdomain of.
func matchDomain(domain string, domains []string) (string, bool) {
	for _, d := range domains {
		if d != "" && (domain == d || strings.HasSuffix(domain, "."+d)) {
			return d, true
		}
	}
	return "", false
}

// emailDomain checks the address's syntax (not its mailbox) and returns its
// lower-cased domain.
func emailDomain(email string) (string, bool) {
	e := strings.TrimSpace(email)
	if len(e) > 254 || strings.Count(e, "@") != 1 || strings.ContainsAny(e, " \t\r\n<>()[]\\,;:\"") {
		return "", false
	}
	local, domain, _ := strings.Cut(e, "@")
	if local == "" || len(local) > 64 || strings.HasPrefix(local, ".") || strings.HasSuffix(local, ".") || strings.Contains(local, "..") {
		return "", false
	}
	domain = strings.ToLower(domain)
	labels := strings.Split(domain, ".")
	if len(labels) < 2 {
		return "", false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return "", false
		}
		for _, c := range []byte(l) {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return "", false
			}
		}
	}
	if strings.Trim(labels[len(labels)-1], "0123456789") == "" {
		return "", false
	}
	return domain, true
}
