package clickyid

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

func TestDecodeBulk(t *testing.T) {
	t.Parallel()
	emails := []string{"a@uni.example", "b@example.com"}
	valid := Result{Email: "a@uni.example", IsValid: true, TargetGroup: "tg_uni", MatchedDomain: "uni.example", Reason: "domain_matched"}
	invalid := Result{Email: "b@example.com", Reason: "domain_not_in_target_group"}
	tests := []struct {
		name    string
		emails  []string
		body    string
		want    []Result
		wantErr bool
	}{
		{"envelope", emails, `{"results":[
			{"email":"a@uni.example","isValid":true,"targetGroup":"tg_uni","matchedDomain":"uni.example","reason":"domain_matched","extra":1},
			{"email":"b@example.com","isValid":false,"targetGroup":null,"matchedDomain":null,"reason":"domain_not_in_target_group"}],
			"requestId":"req_1","summary":{"valid":1}}`, []Result{valid, invalid}, false},
		{"bare array", emails, `[{"isValid":true,"targetGroup":"tg_uni","matchedDomain":"uni.example","reason":"domain_matched"},{"reason":"domain_not_in_target_group"}]`,
			[]Result{valid, invalid}, false},
		{"reordered", emails, `{"results":[{"email":"B@example.com","reason":"domain_not_in_target_group"},
			{"email":"a@uni.example","isValid":true,"targetGroup":{"id":"tg_uni","name":"Uni"},"matchedDomain":"uni.example","reason":"domain_matched"}]}`,
			[]Result{valid, invalid}, false},
		{"deduplicated by the API", []string{"a@uni.example", "a@uni.example"}, `{"results":[{"email":"a@uni.example","isValid":true,"targetGroup":"tg_uni","matchedDomain":"uni.example","reason":"domain_matched"}]}`,
			[]Result{valid, valid}, false},
		{"target group by name", []string{"a@uni.example"}, `{"results":[{"email":"a@uni.example","isValid":true,"targetGroup":{"name":"Uni"}}]}`,
			[]Result{{Email: "a@uni.example", IsValid: true, TargetGroup: "Uni"}}, false},
		{"details kept", []string{"a@uni.example"}, `{"results":[{"validationDetails":{"mode":"any"}}]}`,
			[]Result{{Email: "a@uni.example", ValidationDetails: json.RawMessage(`{"mode":"any"}`)}}, false},
		{"missing email", emails, `{"results":[{"email":"a@uni.example"}]}`, nil, true},
		{"no results", emails, `{"requestId":"x"}`, nil, true},
		{"null results", emails, `{"results":null}`, nil, true},
		{"null", emails, `null`, nil, true},
		{"empty", emails, ``, nil, true},
		{"truncated", emails, `{"results":[{"ema`, nil, true},
		{"wrong type", emails, `{"results":[{"isValid":"yes"},{}]}`, nil, true},
		{"html", emails, `<html>`, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := decodeBulk([]byte(tt.body), tt.emails)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestDecodeList(t *testing.T) {
	t.Parallel()
	want := []TargetGroup{{ID: "tg_1", Name: "One", Domains: []string{"one.example"}}}
	for _, body := range []string{
		`{"targetGroups":[{"id":"tg_1","name":"One","domains":["one.example"],"createdAt":"x"}],"requestId":"r"}`,
		`[{"id":"tg_1","name":"One","domains":["one.example"]}]`,
		`{"data":[{"id":"tg_1","name":"One","domains":["one.example"]}]}`,
	} {
		got, err := decodeList[TargetGroup]([]byte(body), "targetGroups")
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("decodeList(%s) = %+v, %v", body, got, err)
		}
	}
	for _, body := range []string{``, `null`, `{}`, `{"targetGroups":{}}`, `{"trunc`, `"x"`} {
		if _, err := decodeList[TargetGroup]([]byte(body), "targetGroups"); err == nil {
			t.Errorf("decodeList(%s): no error", body)
		}
	}
}

// TestUndecodableIsTransient checks the class of a bad 2xx body.
func TestUndecodableIsTransient(t *testing.T) {
	t.Parallel()
	_, derr := decodeBulk([]byte(`{`), []string{"a@b.example"})
	err := undecodable(opBulk, 200, derr)
	var ae *APIError
	if !errors.As(err, &ae) || ae.Class == nil || ae.Message != "undecodable response body" {
		t.Fatalf("err = %#v", err)
	}
}

// bulkBody is a 100-email answer shaped as the docs describe a result
// (targetGroup an object, validationDetails an object), the size the
// worker decodes per call.
func bulkBody(n int) ([]byte, []string) {
	emails := make([]string, n)
	var b []byte
	b = append(b, `{"results":[`...)
	for i := range n {
		if i > 0 {
			b = append(b, ',')
		}
		emails[i] = "student" + string(rune('a'+i%26)) + string(rune('a'+i/26)) + "@cs.uni.example"
		if i%2 == 0 {
			b = append(b, `{"email":"`+emails[i]+`","isValid":true,"targetGroup":{"id":"tg_uni","name":"University students","domains":["uni.example","student.example"]},"matchedDomain":"uni.example","validationDetails":{"domainMatch":true,"mode":"any","checkedTargets":1},"reason":null}`...)
		} else {
			b = append(b, `{"email":"`+emails[i]+`","isValid":false,"targetGroup":null,"matchedDomain":null,"validationDetails":{"domainMatch":false,"mode":"any","checkedTargets":1},"reason":"domain_not_in_target_group"}`...)
		}
	}
	b = append(b, `],"requestId":"req_0123456789ab"}`...)
	return b, emails
}

func BenchmarkDecodeBulk(b *testing.B) {
	body, emails := bulkBody(MaxBulk)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeBulk(body, emails); err != nil {
			b.Fatal(err)
		}
	}
}

// TestDecodeBulkShapes covers the documented object targetGroup and the
// results nested in "data".
func TestDecodeBulkShapes(t *testing.T) {
	t.Parallel()
	emails := []string{"a@uni.example"}
	for _, body := range []string{
		`{"data":{"results":[{"email":"a@uni.example","isValid":true,"targetGroup":{"id":"tg_uni","name":"Uni"}}]}}`,
		`{"results":[{"email":"a@uni.example","isValid":true,"targetGroup":{"id":"tg_uni","name":"Uni","domains":["uni.example"]}}]}`,
		`{"results":[{"email":"a@uni.example","isValid":true,"targetGroup":"tg_uni"}]}`,
		`{"results":[{"email":"a@uni.example","isValid":true,"targetGroup":"tg\u005funi"}]}`,
	} {
		got, err := decodeBulk([]byte(body), emails)
		if err != nil || len(got) != 1 || got[0].TargetGroup != "tg_uni" || !got[0].IsValid {
			t.Errorf("decodeBulk(%s) = %+v, %v", body, got, err)
		}
	}
	got, err := decodeBulk([]byte(`{"results":[{"targetGroup":17}]}`), emails)
	if err != nil || got[0].TargetGroup != "17" {
		t.Errorf("numeric id: %+v, %v", got, err)
	}
}
