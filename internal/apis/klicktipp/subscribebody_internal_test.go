package klicktipp

import (
	"bytes"
	"encoding/json"
	"testing"
)

// A subscribe body is written exactly as json.Marshal writes it.
func TestSubscribeBodyIsJSONMarshals(t *testing.T) {
	t.Parallel()
	for _, b := range []subscribeBody{
		{Email: "ann@example.com"},
		{Email: "ann@example.com", ListID: 42, TagID: -7},
		{Email: "a<b>&\"c\"@x.example", Fields: map[string]string{}},
		{Email: "ü@x.example", Fields: map[string]string{"fieldLastName": "Lee\n", "fieldFirstName": "Ann\u2028", "b": "\xff", "a": ""}},
	} {
		sameBody(t, b)
	}
}

func FuzzSubscribeBody(f *testing.F) {
	f.Add("ann@example.com", int64(1), int64(0), "fieldCity", "Köln", "fieldZip", "<10115>")
	f.Fuzz(func(t *testing.T, email string, list, tag int64, k1, v1, k2, v2 string) {
		sameBody(t, subscribeBody{Email: email, ListID: list, TagID: tag, Fields: map[string]string{k1: v1, k2: v2}})
		sameBody(t, subscribeBody{Email: email, ListID: list, TagID: tag})
	})
}

func sameBody(t *testing.T, b subscribeBody) {
	t.Helper()
	want, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if got := b.appendJSON(nil); !bytes.Equal(got, want) {
		t.Errorf("appendJSON %s\njson.Marshal %s", got, want)
	}
}
