package klicktipp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"crmsync/internal/apis"
	"crmsync/internal/jsonstr"
	"crmsync/internal/jsonwalk"
)

// SubscribeRequest is the input of Session.Subscribe.
type SubscribeRequest struct {
	Email string
	// ListID is the opt-in process; 0 sends none, so the account's default
	// double opt-in applies.
	ListID int64
	// TagID is a tag to add; 0 adds none.
	TagID int64
	// Fields are data fields by key ("fieldFirstName", "field12345", ...).
	Fields map[string]string
}

// Subscriber is a KlickTipp contact as POST /subscriber returns it. Ids
// arrive as JSON numbers or strings; both are accepted.
type Subscriber struct {
	ID     int64  `json:"id"`
	ListID int64  `json:"listid"`
	Email  string `json:"email"`
	// Status as KlickTipp spells it, e.g. "Subscribed" or "Opt-In Pending".
	Status string `json:"status"`
	// Tags are the ids of all tags the contact carries, ascending.
	Tags []int64 `json:"tags"`
	// Fields holds every "field*" key of the answer (empty values included).
	Fields map[string]string `json:"fields"`
}

// UnmarshalJSON decodes KlickTipp's flat subscriber object: ids as numbers
// or strings, tags as an array (or an object keyed by id), data fields as
// top-level "field*" keys. Unknown keys are ignored; of a key given twice
// the last wins. null leaves a zero Subscriber. Invalid JSON and a value of
// the wrong kind for id, listid, email, status or tags are errors.
func (s *Subscriber) UnmarshalJSON(b []byte) error {
	// One pass: the walk that checks the syntax collects the members.
	c := members{withFields: true}
	switch i := jsonwalk.SkipSpace(b, 0); {
	case i < len(b) && b[i] == '{':
		if validMembers(b, c.visit) {
			return c.subscriber(s)
		}
	case i < len(b) && b[i] == 'n' && validJSON(b): // null
		*s = Subscriber{}
		return nil
	}
	var raw map[string]json.RawMessage
	return json.Unmarshal(b, &raw) // the syntax error, or "cannot unmarshal ... into map", as encoding/json words it
}

// members collects a subscriber object's members as they are walked: the
// raw values of the keys a Subscriber holds (the last of each) and, with
// withFields, the top-level data fields.
type members struct {
	withFields                                  bool
	idV, listV, emailV, statusV, tagsV, fieldsV []byte
	top                                         map[string]string
}

func (c *members) visit(rawKey, v []byte) {
	switch key := jsonwalk.KeyText(rawKey); string(key) {
	case "id":
		c.idV = v
	case "listid":
		c.listV = v
	case "email":
		c.emailV = v
	case "status":
		c.statusV = v
	case "tags":
		c.tagsV = v
	case "fields":
		c.fieldsV = v
	default:
		if !c.withFields || !bytes.HasPrefix(key, []byte("field")) {
			return
		}
		if fs, ok := scalarString(v); ok {
			if c.top == nil {
				c.top = make(map[string]string, 24)
			}
			c.top[string(key)] = fs
		} else {
			delete(c.top, string(key)) // a later non-scalar hides an earlier value
		}
	}
}

// subscriber decodes the collected members into s.
func (c *members) subscriber(s *Subscriber) error {
	idV, listV, emailV, statusV, tagsV, fieldsV, top, withFields := c.idV, c.listV, c.emailV, c.statusV, c.tagsV, c.fieldsV, c.top, c.withFields
	var out Subscriber
	var id, list flexID
	if idV != nil {
		if err := id.UnmarshalJSON(idV); err != nil {
			return fmt.Errorf("subscriber id: %w", err)
		}
	}
	if listV != nil {
		if err := list.UnmarshalJSON(listV); err != nil {
			return fmt.Errorf("subscriber listid: %w", err)
		}
	}
	out.ID, out.ListID = int64(id), int64(list)
	for _, f := range [...]struct {
		key string
		v   []byte
		dst *string
	}{{"email", emailV, &out.Email}, {"status", statusV, &out.Status}} {
		if f.v == nil {
			continue
		}
		str, ok := scalarString(f.v)
		if !ok {
			return fmt.Errorf("subscriber %s is not a string", f.key)
		}
		*f.dst = str
	}
	if tagsV != nil {
		tags, err := decodeTagIDs(tagsV)
		if err != nil {
			return fmt.Errorf("subscriber tags: %w", err)
		}
		out.Tags = tags
	}
	if withFields && fieldsV != nil && fieldsV[0] == '{' {
		// Our own encoding of Subscriber nests the fields.
		if m, err := decodeStringMap(fieldsV); err == nil && len(m) > 0 {
			out.Fields = m
		}
	}
	if out.Fields == nil {
		out.Fields = top
	} else {
		for k, v := range top {
			out.Fields[k] = v
		}
	}
	if len(out.Fields) == 0 {
		out.Fields = nil
	}
	*s = out
	return nil
}

// decodeTagIDs reads ["17","18"], [17,18], {"17": ...} or null, all valid
// JSON, into ascending ids; no ids is nil.
func decodeTagIDs(v []byte) ([]int64, error) {
	var ids []int64
	switch v[0] {
	case 'n':
		return nil, nil
	case '{':
		var m map[string]json.RawMessage
		if err := json.Unmarshal(v, &m); err != nil {
			return nil, err
		}
		for k := range m {
			var id flexID
			if err := id.UnmarshalJSON([]byte(k)); err != nil {
				return nil, err
			}
			ids = append(ids, int64(id))
		}
	case '[':
		for el := jsonwalk.NewElements(v); ; {
			e, ok := el.Next()
			if !ok {
				break
			}
			var id flexID
			if err := id.UnmarshalJSON(e); err != nil {
				return nil, err
			}
			ids = append(ids, int64(id))
		}
	default:
		var list []flexID
		return nil, json.Unmarshal(v, &list) // "cannot unmarshal ... into []flexID"
	}
	slices.Sort(ids)
	return ids, nil
}

// subscribeBody is the JSON of POST /subscriber.
type subscribeBody struct {
	Email  string            `json:"email"`
	ListID int64             `json:"listid,omitempty"`
	TagID  int64             `json:"tagid,omitempty"`
	Fields map[string]string `json:"fields,omitempty"`
}

// appendJSON appends b as json.Marshal writes it (fields in order, empty
// ones left out, the data fields' keys sorted), without its reflection: a
// job sends one of these per contact.
func (b subscribeBody) appendJSON(dst []byte) []byte {
	dst = append(dst, `{"email":`...)
	dst = jsonstr.Append(dst, b.Email)
	if b.ListID != 0 {
		dst = strconv.AppendInt(append(dst, `,"listid":`...), b.ListID, 10)
	}
	if b.TagID != 0 {
		dst = strconv.AppendInt(append(dst, `,"tagid":`...), b.TagID, 10)
	}
	if len(b.Fields) > 0 {
		dst = append(dst, `,"fields":{`...)
		for i, k := range slices.Sorted(maps.Keys(b.Fields)) {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = jsonstr.Append(dst, k)
			dst = append(dst, ':')
			dst = jsonstr.Append(dst, b.Fields[k])
		}
		dst = append(dst, '}')
	}
	return append(dst, '}')
}

// Subscribe adds a contact or updates the one with the same email (POST
// /subscriber) and returns it as stored. KlickTipp's refusals are
// apis.ErrValidation with Code set: "5" invalid email, "8" field validation,
// "32" email required, "402" list not found, "403" tag not found.
func (s *Session) Subscribe(ctx context.Context, req SubscribeRequest) (*Subscriber, error) {
	return s.subscribe(ctx, req, true)
}

// SubscribeID is Subscribe for a caller that needs only the contact's id: it
// sends the same request and accepts and refuses the same answers, but does
// not decode the answer's data fields (Subscriber.Fields), which are most of
// its cost.
func (s *Session) SubscribeID(ctx context.Context, req SubscribeRequest) (int64, error) {
	sub, err := s.subscribe(ctx, req, false)
	if err != nil {
		return 0, err
	}
	return sub.ID, nil
}

func (s *Session) subscribe(ctx context.Context, req SubscribeRequest, withFields bool) (*Subscriber, error) {
	const op = "POST /subscriber"
	in := subscribeBody{Email: strings.TrimSpace(req.Email), ListID: req.ListID, TagID: req.TagID, Fields: req.Fields}
	status, body, err := s.call(ctx, http.MethodPost, "/subscriber", apis.RawJSON(in.appendJSON(nil)))
	if err != nil {
		return nil, err
	}
	sub, err := decodeSubscriber(body, withFields)
	if err != nil {
		return nil, decodeErr(op, status, err)
	}
	return sub, nil
}

// decodeSubscriber decodes a subscriber answer (without its data fields
// unless withFields); it must carry an id.
func decodeSubscriber(body []byte, withFields bool) (*Subscriber, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return nil, errors.New("expected a subscriber object")
	}
	// One pass: the walk that checks the syntax collects the members.
	c := members{withFields: withFields}
	if !validMembers(body, c.visit) {
		var raw map[string]json.RawMessage
		return nil, json.Unmarshal(body, &raw) // the syntax error, as encoding/json words it
	}
	var sub Subscriber
	if err := c.subscriber(&sub); err != nil {
		return nil, err
	}
	if sub.ID <= 0 {
		return nil, errors.New("subscriber has no id")
	}
	return &sub, nil
}

// Tag adds tags to the contact with email (POST /subscriber/tag). An unknown
// contact is apis.ErrValidation code "7", an unknown tag code "403". No tags
// is a no-op without a request.
func (s *Session) Tag(ctx context.Context, email string, tagIDs []int64) error {
	const op = "POST /subscriber/tag"
	if len(tagIDs) == 0 {
		return nil
	}
	in := map[string]any{"email": strings.TrimSpace(email), "tagids": tagIDs}
	status, body, err := s.call(ctx, http.MethodPost, "/subscriber/tag", in)
	if err != nil {
		return err
	}
	if err := decodeAck(body); err != nil {
		return decodeErr(op, status, err)
	}
	return nil
}

// Search returns the id of the contact with email (POST /subscriber/search),
// or an error matching apis.ErrNotFound when there is none.
func (s *Session) Search(ctx context.Context, email string) (int64, error) {
	const op = "POST /subscriber/search"
	in := map[string]string{"email": strings.TrimSpace(email)}
	status, body, err := s.call(ctx, http.MethodPost, "/subscriber/search", in)
	if err != nil {
		return 0, err
	}
	id, ok, err := decodeFirstID(body)
	if err != nil {
		return 0, decodeErr(op, status, err)
	}
	if !ok {
		return 0, &APIError{API: "klicktipp", Op: op, Status: status, Class: apis.ErrNotFound, Message: "no contact with this email"}
	}
	return id, nil
}
