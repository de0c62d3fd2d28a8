package klicktipp

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// legacyDecodeSubscriber is decodeSubscriber as it was, over the legacy
// Subscriber decoder (json.Unmarshal validated the body before calling it).
func legacyDecodeSubscriber(body []byte) (*Subscriber, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return nil, errors.New("expected a subscriber object")
	}
	var sub Subscriber
	if err := legacyUnmarshalSubscriber(&sub, body); err != nil {
		return nil, err
	}
	if sub.ID <= 0 {
		return nil, errors.New("subscriber has no id")
	}
	return &sub, nil
}

// wireBody is a POST /subscriber answer shaped like KlickTipp's (and the
// fake's): forty-odd keys, of which the worker needs the id.
func wireBody() []byte {
	m := map[string]any{
		"id": "881", "listid": "123", "optin": "01.12.2026", "optin_ip": "0.0.0.0", "email": "ann@example.com",
		"status": "Subscribed", "bounce": "Not Bounced", "date": "01.12.2026", "ip": "0.0.0.0",
		"unsubscription": "", "unsubscription_ip": "0.0.0.0", "referrer": "", "sms_phone": "", "sms_status": "",
		"sms_bounce": "", "sms_date": "", "sms_unsubscription": "", "sms_referrer": nil,
		"smart_tags": []any{}, "notification_emails_sent": []any{}, "notification_emails_opened": []any{},
		"notification_emails_clicked": []any{}, "emails_sent": []any{}, "emails_opened": []any{},
		"emails_clicked": []any{}, "campaigns_started": []any{}, "campaigns_finished": []any{},
		"tags": []string{"17", "21"}, "manual_tags": map[string]string{"17": "1764547200", "21": "1764547200"},
	}
	for _, k := range []string{"fieldFirstName", "fieldLastName", "fieldCompanyName", "fieldStreet1",
		"fieldStreet2", "fieldCity", "fieldState", "fieldZip", "fieldCountry", "fieldPrivatePhone",
		"fieldMobilePhone", "fieldPhone", "fieldFax", "fieldWebsite", "fieldBirthday", "fieldLeadValue"} {
		m[k] = ""
	}
	m["fieldFirstName"], m["fieldCity"], m["field12345"] = "Ann", "Köln", "42"
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

// subscriberCases are bodies where a single-pass decoder could part ways
// with the map-based one: duplicate keys, escapes in keys and values,
// invalid UTF-8, nested and non-scalar values, odd spacing, bad JSON.
var subscriberCases = []string{
	`{"id":"881","listid":"123","email":"ann@example.com","status":"Subscribed","tags":["21","17"],"fieldFirstName":"Ann","fieldNull":null,"field12345":42,"fieldB":true}`,
	`{"id":5,"listid":null,"email":"b@example.com","tags":{"3":"1","1":"2"}}`,
	`{"id":1,"id":2}`, `{"id":"x","id":2}`, `{"id":2,"id":"x"}`, `{"\u0069d":"7"}`, `{"id":"\u0037"}`,
	`{"id":1,"fieldA":"a","fieldA":{}}`, `{"id":1,"fieldA":{},"fieldA":"a"}`, `{"id":1,"fieldA":[1]}`,
	`{"id":1,"fields":{"fieldA":"n","fieldB":"n"},"fieldA":"top"}`, `{"id":1,"fields":{"fieldA":"n"},"fieldA":{}}`,
	`{"id":1,"fields":[]}`, `{"id":1,"fields":"x"}`, `{"id":1,"fields":{"a":{}}}`, `{"id":1,"fields":{}}`,
	`{"id":1,"fiel\u0064X":"esc","field\u00e4":"\u00e4\n\"q\""}`, "{\"id\":1,\"fieldX\":\"\xff\xfe\"}", "{\"id\":1,\"field\xff\":\"x\"}",
	` { "id" : 1 , "email" : "a@b" , "tags" : [ "3" , 1 , 2.0 ] } `, "{\n\t\"id\":1,\r\n\"tags\":[]}",
	`{"id":1,"tags":null}`, `{"id":1,"tags":[null]}`, `{"id":1,"tags":[{}]}`, `{"id":1,"tags":"17"}`, `{"id":1,"tags":17}`,
	`{"id":1,"tags":{"x":1}}`, `{"id":1,"tags":[[1]]}`, `{"id":1,"tags":["1","1"]}`,
	`{"id":1,"email":{}}`, `{"id":1,"email":17}`, `{"id":1,"email":null}`, `{"id":1,"status":false}`, `{"id":1,"status":[]}`,
	`{"id":1.0}`, `{"id":1.5}`, `{"id":"1e2"}`, `{"id":" 12 "}`, `{"id":""}`, `{"id":-3}`, `{"id":1e400}`, `{"id":"+4"}`,
	`{"id":1,"x":{"id":9,"s":"}{]["},"y":["\"",{"z":[]}]}`, `{"id":1,"listid":"9","listid":[]}`,
	`{"id":1}x`, `{"id":1,}`, `{"id":1`, `{"id":"1}`, `{id:1}`, `{}`, `[]`, `null`, ``, `"x"`, `{"id":1} `,
	`{"id":1,"fieldA":"\ud800"}`, `{"id":1,"fieldA":-0.5e+3}`, `{"id":1,"unknown":{"fieldA":"deep"}}`,
}

// sameDecode fails the test when the new and the legacy decoder disagree on
// body: both must fail, or both succeed with equal subscribers.
func sameDecode(t *testing.T, body []byte) {
	t.Helper()
	got, err := decodeSubscriber(body, true)
	want, werr := legacyDecodeSubscriber(body)
	if (err != nil) != (werr != nil) {
		t.Fatalf("%q: got error %v, legacy %v", body, err, werr)
	}
	if err == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("%q:\ngot    %#v\nlegacy %#v", body, got, want)
	}
	// Without fields (SubscribeID): the same verdict and id.
	lean, err := decodeSubscriber(body, false)
	if (err != nil) != (werr != nil) {
		t.Fatalf("%q without fields: got error %v, legacy %v", body, err, werr)
	}
	if err == nil && (lean.ID != want.ID || lean.Fields != nil) {
		t.Fatalf("%q without fields: got %#v, legacy id %d", body, lean, want.ID)
	}
	var a, b Subscriber
	err, werr = a.UnmarshalJSON(body), legacyUnmarshalSubscriber(&b, body)
	if (err != nil) != (werr != nil) {
		t.Fatalf("UnmarshalJSON(%q): got error %v, legacy %v", body, err, werr)
	}
	if err == nil && !reflect.DeepEqual(a, b) {
		t.Fatalf("UnmarshalJSON(%q):\ngot    %#v\nlegacy %#v", body, a, b)
	}
}

func TestDecodeSubscriberMatchesLegacy(t *testing.T) {
	t.Parallel()
	for _, c := range append(subscriberCases, string(wireBody())) {
		sameDecode(t, []byte(c))
	}
	// Through encoding/json, as a member of a larger document.
	var got, want struct{ S Subscriber }
	doc := `{"S":` + string(wireBody()) + `}`
	if err := json.Unmarshal([]byte(doc), &got); err != nil {
		t.Fatal(err)
	}
	if err := legacyUnmarshalSubscriber(&want.S, wireBody()); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) || got.S.ID != 881 || len(got.S.Fields) != 17 || got.S.Fields["fieldCity"] != "Köln" {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
}

// FuzzDecodeSubscriberMatchesLegacy: on any body, the single-pass decoder
// and the map-based one agree.
func FuzzDecodeSubscriberMatchesLegacy(f *testing.F) {
	for _, c := range subscriberCases {
		f.Add([]byte(c))
	}
	f.Add(wireBody())
	f.Add([]byte(strings.ReplaceAll(string(wireBody()), `""`, `"\u00e9"`)))
	f.Fuzz(func(t *testing.T, body []byte) { sameDecode(t, body) })
}

func BenchmarkDecodeSubscriber(b *testing.B) {
	body := wireBody()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeSubscriber(body, true); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeSubscriberLegacy(b *testing.B) {
	body := wireBody()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := legacyDecodeSubscriber(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeSubscriberIDOnly(b *testing.B) {
	body := wireBody()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeSubscriber(body, false); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzFlexIDMatchesLegacy: flexID (with its allocation-free path for plain
// ids) and the legacy one agree on every input.
func FuzzFlexIDMatchesLegacy(f *testing.F) {
	for _, s := range []string{`17`, `"17"`, `" 17 "`, `null`, `""`, `17.0`, `"0"`, `0`, `"007"`, `-1`, `"+1"`,
		`999999999999999999`, `9223372036854775807`, `9223372036854775808`, `"1"x`, `"`, `1e3`, `"\u0031"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var got flexID
		var want legacyFlexID
		err, werr := got.UnmarshalJSON(b), want.UnmarshalJSON(b)
		if (err != nil) != (werr != nil) || (err == nil && int64(got) != int64(want)) {
			t.Fatalf("%q: got %d, %v; legacy %d, %v", b, got, err, want, werr)
		}
	})
}
