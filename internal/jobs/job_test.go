package jobs_test

import (
	"errors"
	"strings"
	"testing"

	"crmsync/internal/jobs"
)

func TestDecodeAcceptsContract(t *testing.T) {
	t.Parallel()
	body := `{"id": "crm-export-42", "kind": "contact.upsert", "target": "klicktipp", "account": "default",
	 "contacts": [{"email": "ann@example.com", "fields": {"fieldFirstName": "Ann", "fieldLastName": "Lee"},
	    "tags": ["newsletter", 17, "23"], "listid": 123}]}`
	j, err := jobs.Decode("crmsync.jobs.contact.upsert", []byte(body), jobs.Limits{})
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	c := j.Contacts[0]
	if j.ID != "crm-export-42" || c.Email != "ann@example.com" || c.ListID != 123 || c.Fields["fieldLastName"] != "Lee" {
		t.Errorf("decoded %+v", j)
	}
	want := []jobs.TagRef{{Name: "newsletter"}, {ID: 17}, {ID: 23}}
	if len(c.Tags) != 3 || c.Tags[0] != want[0] || c.Tags[1] != want[1] || c.Tags[2] != want[2] {
		t.Errorf("tags = %+v, want %+v", c.Tags, want)
	}

	v, err := jobs.Decode("crmsync.jobs.email.validate", []byte(`{"id":"signup-check-7","kind":"email.validate","emails":["a@uni.example","b@example.com"],"targetGroupIds":["tg_1"]}`), jobs.Limits{})
	if err != nil {
		t.Fatalf("Decode validate: %v", err)
	}
	if v.Account != "default" || v.Mode != "any" || len(v.Emails) != 2 || v.TargetGroupIDs[0] != "tg_1" {
		t.Errorf("decoded %+v", v)
	}

	k, err := jobs.Decode("crmsync.jobs.contact.upsert", []byte(`{"kind":"contact.upsert","target":"klipy","contacts":[{"email":"x@y.example","firstName":"X","custom":{"a":1},"score":12.50}]}`), jobs.Limits{})
	if err != nil {
		t.Fatalf("Decode klipy: %v", err)
	}
	if p, _ := k.Contacts[0].Person(); p["firstName"] != "X" || p["custom"] == nil || p["score"].(interface{ String() string }).String() != "12.50" {
		t.Errorf("person %+v does not pass keys through unchanged", p)
	}
}

func TestDecodeRejects(t *testing.T) {
	t.Parallel()
	big := `{"kind":"email.validate","emails":["` + strings.Repeat("a", 2<<20) + `@x.example"]}`
	many := `{"kind":"email.validate","emails":[` + strings.Repeat(`"a@b.example",`, 10000) + `"a@b.example"]}`
	cases := []struct {
		name, subject, body, reason string
		kind                        jobs.Kind
	}{
		{"not json", "crmsync.jobs.contact.upsert", `hello`, "not JSON", "contact.upsert"},
		{"wrong type", "crmsync.jobs.contact.upsert", `{"kind":"contact.upsert","target":"klicktipp","contacts":"ann"}`, `field "contacts"`, "contact.upsert"},
		{"unknown kind", "crmsync.jobs.contact.delete", `{"kind":"contact.delete","contacts":[{"email":"a@b.example"}]}`, "unknown kind", ""},
		{"missing kind", "crmsync.jobs.contact.upsert", `{"contacts":[{"email":"a@b.example"}]}`, "kind is missing", ""},
		{"kind mismatch", "crmsync.jobs.email.validate", `{"kind":"contact.upsert","target":"klipy","contacts":[{"email":"a@b.example"}]}`, "does not match subject", "contact.upsert"},
		{"no items", "crmsync.jobs.email.validate", `{"kind":"email.validate","emails":[]}`, "no items", "email.validate"},
		{"too many items", "crmsync.jobs.email.validate", many, "more than the limit of 10000", "email.validate"},
		{"too large", "crmsync.jobs.email.validate", big, "WORKER_MAX_JOB_BYTES", "email.validate"},
		{"bad target", "crmsync.jobs.contact.upsert", `{"kind":"contact.upsert","target":"hubspot","contacts":[{"email":"a@b.example"}]}`, "not klicktipp or klipy", "contact.upsert"},
		{"bad mode", "crmsync.jobs.email.validate", `{"kind":"email.validate","mode":"most","emails":["a@b.example"]}`, "mode", "email.validate"},
		{"invalid utf8", "crmsync.jobs.email.validate", "{\"kind\":\"email.validate\",\"emails\":[\"\xff@b.example\"]}", "UTF-8", "email.validate"},
		{"trailing data", "crmsync.jobs.email.validate", `{"kind":"email.validate","emails":["a@b.example"]} {}`, "after the JSON", "email.validate"},
		{"bad tag", "crmsync.jobs.contact.upsert", `{"kind":"contact.upsert","target":"klicktipp","contacts":[{"email":"a@b.example","tags":[-3]}]}`, "tag must be", "contact.upsert"},
	}
	for _, tc := range cases {
		_, err := jobs.Decode(tc.subject, []byte(tc.body), jobs.Limits{MaxBytes: 1 << 20})
		var inv *jobs.InvalidError
		if !errors.As(err, &inv) {
			t.Errorf("%s: err = %v, want *InvalidError", tc.name, err)
			continue
		}
		if !strings.Contains(inv.Reason, tc.reason) || inv.Kind != tc.kind {
			t.Errorf("%s: reason %q kind %q, want reason containing %q and kind %q", tc.name, inv.Reason, inv.Kind, tc.reason, tc.kind)
		}
		if jobs.DeadLetterSubject(inv.Kind) == "" || len(inv.Reason) > 2000 {
			t.Errorf("%s: bad dead-letter routing or reason length", tc.name)
		}
	}
}

func TestCheckEmail(t *testing.T) {
	t.Parallel()
	good := []string{"ann@example.com", "a.b+c@sub.uni.example", "x@y.co"}
	bad := []string{"", "bad@", "@x.example", "a b@x.example", "Ann <a@x.example>", "a@localhost", "a\x00@x.example",
		strings.Repeat("a", 1000) + "@x.example", strings.Repeat("a", 65) + "@x.example", "a@x.example."}
	for _, e := range good {
		if err := jobs.CheckEmail(e); err != nil {
			t.Errorf("CheckEmail(%q) = %v", e, err)
		}
	}
	for _, e := range bad {
		err := jobs.CheckEmail(e)
		if err == nil {
			t.Errorf("CheckEmail(%q) = nil", e)
		} else if len(err.Error()) > 200 {
			t.Errorf("CheckEmail error too long: %d", len(err.Error()))
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add("crmsync.jobs.contact.upsert", []byte(`{"id":"x","kind":"contact.upsert","target":"klicktipp","contacts":[{"email":"a@b.example","tags":["n",1],"fields":{"fieldFirstName":"A"},"listid":1}]}`))
	f.Add("crmsync.jobs.email.validate", []byte(`{"kind":"email.validate","emails":["a@b.example"],"mode":"all"}`))
	f.Add("crmsync.jobs.contact.upsert", []byte(`{"kind":"contact.upsert","target":"klipy","contacts":[{"email":"a@b.example","x":[1,{"y":null}]}]}`))
	f.Add("crmsync.jobs.x", []byte(`[]`))
	f.Add("crmsync.jobs.email.validate", []byte("{\"kind\":\"email.validate\",\"emails\":[\"\xff\"]}"))
	f.Fuzz(func(t *testing.T, subject string, body []byte) {
		j, err := jobs.Decode(subject, body, jobs.Limits{MaxBytes: 1 << 16, MaxItems: 100})
		if err != nil {
			var inv *jobs.InvalidError
			if !errors.As(err, &inv) || inv.Reason == "" {
				t.Fatalf("error %v is not an *InvalidError with a reason", err)
			}
			return
		}
		if j.Items() < 1 || j.Items() > 100 || j.Kind.Subject() != subject || j.Account == "" {
			t.Fatalf("accepted an invalid job: %+v", j)
		}
		for i := 0; i < j.Items(); i++ {
			_ = jobs.CheckItem(j, i) // must not panic
		}
	})
}

func TestContactDecodingTypes(t *testing.T) {
	t.Parallel()
	j, err := jobs.Decode("crmsync.jobs.contact.upsert", []byte(`{"kind":"contact.upsert","target":"klicktipp","contacts":[
	  {"email":"a@b.example","fields":{"fieldZip":12345,"fieldCity":"Kiel","fieldFax":null},"listid":"123","tags":["7",8,"vip"]}]}`), jobs.Limits{})
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	c := j.Contacts[0]
	if c.Fields["fieldZip"] != "12345" || c.Fields["fieldCity"] != "Kiel" || c.Fields["fieldFax"] != "" || c.ListID != 123 {
		t.Errorf("contact %+v", c)
	}
	if len(c.Tags) != 3 || c.Tags[0].ID != 7 || c.Tags[1].ID != 8 || c.Tags[2].Name != "vip" {
		t.Errorf("tags %+v", c.Tags)
	}
	for body, want := range map[string]string{
		`{"email":7}`:                         `"email": expected a string, got a number`,
		`{"email":"a@b.example","fields":[]}`: `"fields": expected an object, got an array`,
		`{"email":"a@b.example","fields":{"fieldCity":{"x":1}}}`: `field "fieldCity": expected a string or number, got an object`,
		`{"email":"a@b.example","tags":"vip"}`:                   `"tags": expected an array`,
		`{"email":"a@b.example","tags":[true]}`:                  `tag must be a positive id or a name, got a boolean`,
		`{"email":"a@b.example","listid":1.5}`:                   `"listid": "1.5" is not an integer`,
		`null`:                                                   `contact is null`,
	} {
		_, err := jobs.Decode("crmsync.jobs.contact.upsert", []byte(`{"kind":"contact.upsert","target":"klicktipp","contacts":[`+body+`]}`), jobs.Limits{})
		var inv *jobs.InvalidError
		if !errors.As(err, &inv) || !strings.Contains(inv.Reason, want) {
			t.Errorf("contact %s: %v, want a reason containing %q", body, err, want)
		}
	}
}
