package klicktipp

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestFlexID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{`17`, 17, false}, {`"17"`, 17, false}, {`" 17 "`, 17, false}, {`null`, 0, false}, {`""`, 0, false},
		{`17.0`, 17, false}, {`17.5`, 0, true}, {`"x"`, 0, true}, {`true`, 0, true}, {`[1]`, 0, true},
	}
	for _, tt := range tests {
		var id flexID
		err := json.Unmarshal([]byte(tt.in), &id)
		if (err != nil) != tt.wantErr || (err == nil && int64(id) != tt.want) {
			t.Errorf("%s: got %d, %v; want %d, err %v", tt.in, id, err, tt.want, tt.wantErr)
		}
	}
}

func TestDecodeSubscriber(t *testing.T) {
	t.Parallel()
	body := `{"id":"881","listid":"123","email":"ann@example.com","status":"Subscribed","bounce":"Not Bounced",
		"fieldFirstName":"Ann","fieldLastName":"","field12345":42,"fieldNull":null,"tags":["21","17"],
		"manual_tags":{"17":"1758821945"},"smart_tags":[],"unknown":{"x":[1,2]}}`
	sub, err := decodeSubscriber([]byte(body), true)
	if err != nil {
		t.Fatal(err)
	}
	want := &Subscriber{ID: 881, ListID: 123, Email: "ann@example.com", Status: "Subscribed", Tags: []int64{17, 21},
		Fields: map[string]string{"fieldFirstName": "Ann", "fieldLastName": "", "field12345": "42", "fieldNull": ""}}
	if !reflect.DeepEqual(sub, want) {
		t.Fatalf("got %+v\nwant %+v", sub, want)
	}
	// Numbers for ids, tags as an object, and our own encoding round trip.
	sub, err = decodeSubscriber([]byte(`{"id":5,"listid":null,"email":"b@example.com","tags":{"3":"1","1":"2"}}`), true)
	if err != nil || sub.ID != 5 || !reflect.DeepEqual(sub.Tags, []int64{1, 3}) {
		t.Fatalf("got %+v, %v", sub, err)
	}
	b, _ := json.Marshal(want)
	var back Subscriber
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(&back, want) {
		t.Fatalf("round trip: got %+v, %v", back, err)
	}
	for _, bad := range []string{`[]`, `{}`, `{"id":"x"}`, `{"id":1,"tags":"17"}`, `{"id":1,"email":{}}`, `null`, ``} {
		if _, err := decodeSubscriber([]byte(bad), true); err == nil {
			t.Errorf("decodeSubscriber(%q) succeeded", bad)
		}
	}
}

func TestDecodeMaps(t *testing.T) {
	t.Parallel()
	m, err := decodeIDMap([]byte(`{"21":"mytag","23":"example"}`))
	if err != nil || !reflect.DeepEqual(m, map[int64]string{21: "mytag", 23: "example"}) {
		t.Fatalf("decodeIDMap: %v, %v", m, err)
	}
	m, err = decodeIDMap([]byte(` [] `))
	if err != nil || len(m) != 0 || m == nil {
		t.Fatalf("decodeIDMap([]): %v, %v", m, err)
	}
	for _, bad := range []string{`{"x":"y"}`, `{"1":{}}`, `["a"]`, `"x"`, `{"1":"a"`} {
		if _, err := decodeIDMap([]byte(bad)); err == nil {
			t.Errorf("decodeIDMap(%q) succeeded", bad)
		}
	}
	f, err := decodeStringMap([]byte(`{"fieldFirstName":"First name","field1":null}`))
	if err != nil || !reflect.DeepEqual(f, map[string]string{"fieldFirstName": "First name", "field1": ""}) {
		t.Fatalf("decodeStringMap: %v, %v", f, err)
	}
}

func TestDecodeFirstIDAndAck(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int64{`[49]`: 49, `["49"]`: 49, `49`: 49, `[49, 50]`: 49} {
		id, ok, err := decodeFirstID([]byte(in))
		if err != nil || !ok || id != want {
			t.Errorf("decodeFirstID(%s) = %d, %v, %v", in, id, ok, err)
		}
	}
	if _, ok, err := decodeFirstID([]byte(`[]`)); ok || err != nil {
		t.Errorf("decodeFirstID([]) = %v, %v", ok, err)
	}
	for _, bad := range []string{`[0]`, `[-1]`, `{}`, `["x"]`, `true`} {
		if _, _, err := decodeFirstID([]byte(bad)); err == nil {
			t.Errorf("decodeFirstID(%s) succeeded", bad)
		}
	}
	for _, ok := range []string{`[true]`, `true`, ` [true] `} {
		if err := decodeAck([]byte(ok)); err != nil {
			t.Errorf("decodeAck(%s): %v", ok, err)
		}
	}
	for _, bad := range []string{`[false]`, `[]`, `{}`, `"true"`, ``} {
		if err := decodeAck([]byte(bad)); err == nil {
			t.Errorf("decodeAck(%s) succeeded", bad)
		}
	}
}

// FuzzDecode feeds arbitrary bodies to every response decoder and to the
// error mapping: none may panic, and error messages stay bounded single lines.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"id":"881","listid":"123","email":"a@b.de","status":"Subscribed","tags":["17"],"fieldFirstName":"A"}`,
		`{"id":5,"tags":{"3":"1"},"fields":{"fieldCity":"Berlin"}}`,
		`{"21":"mytag","23":"example"}`, `[]`, `[49]`, `["49"]`, `[true]`, `{"error":5}`, `{"error":10,"code":"4"}`,
		`["API access denied."]`, `{"sessid":"x","session_name":"SSESSy"}`, `{"trunc`, `null`, `1e400`, `"\ud800"`,
	} {
		f.Add([]byte(s), 406)
	}
	f.Fuzz(func(t *testing.T, body []byte, status int) {
		if sub, err := decodeSubscriber(body, true); err == nil && sub.ID <= 0 {
			t.Fatalf("subscriber without id accepted: %+v", sub)
		}
		_, _ = decodeIDMap(body)
		_, _ = decodeStringMap(body)
		if id, ok, err := decodeFirstID(body); err == nil && ok && id <= 0 {
			t.Fatalf("non-positive id %d accepted", id)
		}
		_ = decodeAck(body)
		if status < 100 || status > 599 {
			status = 400 + (status%200+200)%200
		}
		e := errorFrom("GET /tag", status, nil, body, nil)
		msg := e.Error()
		if strings.ContainsAny(e.Message, "\n\r") || len(e.Message) > maxMessage+4 {
			t.Fatalf("message not bounded to one line: %q", e.Message)
		}
		if utf8.ValidString(string(body)) && !utf8.ValidString(msg) {
			t.Fatalf("invalid UTF-8 in %q", msg)
		}
		if e.Class == nil {
			t.Fatalf("no class for status %d", status)
		}
	})
}
