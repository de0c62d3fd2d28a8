package main

import (
	"encoding/json"
	"reflect"
	"testing"
)

// readHead reads what json.Unmarshal would of the fields the bench uses,
// from crmsync's results (items after the counts) and the peer's.
func TestReadHeadAsUnmarshal(t *testing.T) {
	// crmsync's field order (internal/jobs.Result): the items after the
	// counts, a split result's part after the items.
	crm := `{"id":"b4-000001","kind":"email.validate","status":"partial","attempt":1,` +
		`"started":"2026-12-01T10:00:00.123456789Z","finished":"2026-12-01T10:00:01.5Z",` +
		`"counts":{"total":2,"succeeded":1,"failed":1},` +
		`"items":[{"email":"a@uni.example","ok":true,"isValid":true,"reason":"ok"},{"email":"b@x","ok":false,"error":"bad"}]}`
	inputs := map[string][]byte{
		"crmsync": []byte(crm),
		"peer":    []byte(`{"id":"p-1","status":"succeeded","started":"2026-12-01T10:00:00Z","finished":"2026-12-01T10:00:01Z","counts":{"total":3,"succeeded":3,"failed":0}}`),
		"part":    []byte(`{"part":2,"id":"p-2","status":"failed","started":"2026-12-01T10:00:00Z","finished":"2026-12-01T10:00:01Z","counts":{"total":1,"succeeded":0,"failed":1}}`),
	}
	for name, in := range inputs {
		var want result
		if err := json.Unmarshal(in, &want); err != nil {
			t.Fatal(err)
		}
		got, err := readHead(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: readHead = %+v, %v; json.Unmarshal = %+v", name, got, err, want)
		}
	}
	if _, err := readHead([]byte(`[1]`)); err == nil {
		t.Error("readHead of an array: no error")
	}
}
