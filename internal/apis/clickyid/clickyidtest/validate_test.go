package clickyidtest

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestEmailDomain(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, domain string
		ok         bool
	}{
		{"ann@uni.example", "uni.example", true},
		{"Ann.Lee+x@CS.Uni.Example", "cs.uni.example", true},
		{"  a@b.example ", "b.example", true},
		{"a@b-c.example", "b-c.example", true},
		{"", "", false},
		{"no-at", "", false},
		{"@uni.example", "", false},
		{"a@", "", false},
		{"a@@uni.example", "", false},
		{"a@b@uni.example", "", false},
		{"a@localhost", "", false},
		{"a b@uni.example", "", false},
		{".a@uni.example", "", false},
		{"a..b@uni.example", "", false},
		{"a@uni..example", "", false},
		{"a@-uni.example", "", false},
		{"a@uni.example.", "", false},
		{"a@uni_x.example", "", false},
		{"a@1.2.3.4", "", false},
		{"<a@uni.example>", "", false},
		{strings.Repeat("a", 65) + "@uni.example", "", false},
	}
	for _, tt := range tests {
		d, ok := emailDomain(tt.in)
		if d != tt.domain || ok != tt.ok {
			t.Errorf("emailDomain(%q) = %q, %v; want %q, %v", tt.in, d, ok, tt.domain, tt.ok)
		}
	}
}

func TestMatchDomain(t *testing.T) {
	t.Parallel()
	domains := []string{"uni.example", "student.example"}
	tests := []struct {
		domain, want string
		ok           bool
	}{
		{"uni.example", "uni.example", true},
		{"cs.uni.example", "uni.example", true},
		{"a.b.student.example", "student.example", true},
		{"notuni.example", "", false},
		{"uni.example.org", "", false},
		{"example", "", false},
	}
	for _, tt := range tests {
		got, ok := matchDomain(tt.domain, domains)
		if got != tt.want || ok != tt.ok {
			t.Errorf("matchDomain(%q) = %q, %v", tt.domain, got, ok)
		}
	}
}

func TestValidateModes(t *testing.T) {
	t.Parallel()
	uni := TargetGroup{ID: "tg_uni", Domains: []string{"uni.example"}}
	corp := TargetGroup{ID: "tg_corp", Domains: []string{"corp.example"}}
	both := TargetGroup{ID: "tg_both", Domains: []string{"uni.example", "corp.example"}}
	units := []unit{
		{targetGroupID: "tg_uni", groups: []TargetGroup{uni}},
		{offerID: "of_1", groups: []TargetGroup{corp, both}},
	}
	tests := []struct {
		email, mode string
		valid       bool
		group       string
		reason      string
	}{
		{"a@uni.example", "any", true, "tg_uni", ReasonMatched},
		{"a@uni.example", "all", true, "tg_uni", ReasonMatched}, // the offer matches through tg_both
		{"a@corp.example", "any", true, "tg_corp", ReasonMatched},
		{"a@corp.example", "all", false, "", ReasonNotInGroup},
		{"a@x.example", "any", false, "", ReasonNotInGroup},
		{"bad", "all", false, "", ReasonInvalidFormat},
	}
	for _, tt := range tests {
		r := validate(tt.email, tt.mode, units)
		group := ""
		if r.TargetGroup != nil {
			group = r.TargetGroup.ID
		}
		if r.Email != tt.email || r.IsValid != tt.valid || group != tt.group || r.Reason != tt.reason {
			t.Errorf("validate(%q, %s) = %+v (group %q)", tt.email, tt.mode, r, group)
		}
		var d details
		if err := json.Unmarshal(r.ValidationDetails, &d); err != nil || d.Mode != tt.mode {
			t.Errorf("validationDetails %s: %v", r.ValidationDetails, err)
		}
	}
}
