package klicktipptest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// input is a decoded request body: JSON, or form data (urlencoded or
// multipart/form-data, the three encodings the OpenAPI spec lists) where
// "fields[key]" becomes a nested object and "tagids[]" a list, as PHP
// reads them.
type input map[string]any

// readInput decodes a JSON or form body; an empty body is an empty input.
func readInput(r *http.Request) (input, error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return input{}, nil
	}
	ct, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/x-www-form-urlencoded":
		vals, err := url.ParseQuery(string(b))
		if err != nil {
			return nil, err
		}
		return formInput(vals), nil
	case "multipart/form-data":
		mr := multipart.NewReader(bytes.NewReader(b), params["boundary"])
		vals := url.Values{}
		for {
			part, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, err
			}
			v, err := io.ReadAll(io.LimitReader(part, 1<<20))
			if err != nil {
				return nil, err
			}
			if name := part.FormName(); name != "" {
				vals.Add(name, string(v))
			}
		}
		return formInput(vals), nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var in input
	if err := dec.Decode(&in); err != nil {
		return nil, err
	}
	if in == nil {
		return nil, errors.New("body is not an object")
	}
	return in, nil
}

// formInput turns PHP-style form values into an input.
func formInput(vals url.Values) input {
	in := input{}
	for k, vs := range vals {
		name, sub, nested := strings.Cut(k, "[")
		if !nested {
			in[k] = vs[len(vs)-1]
			continue
		}
		sub = strings.TrimSuffix(sub, "]")
		if sub == "" || isDigits(sub) {
			l, _ := in[name].([]any)
			for _, v := range vs {
				l = append(l, v)
			}
			in[name] = l
			continue
		}
		m, _ := in[name].(map[string]any)
		if m == nil {
			m = map[string]any{}
		}
		m[sub] = vs[len(vs)-1]
		in[name] = m
	}
	return in
}

// str returns a string value; ok is false when absent or not a string.
func (in input) str(key string) (string, bool) {
	s, ok := in[key].(string)
	return s, ok
}

// id reads an id given as a number or numeric string. present is false when
// the key is absent, null, "" or 0; valid is false when it is not an id.
func (in input) id(key string) (id int64, present, valid bool) {
	return anyID(in[key])
}

func anyID(v any) (id int64, present, valid bool) {
	var s string
	switch x := v.(type) {
	case nil:
		return 0, false, true
	case json.Number:
		s = x.String()
	case string:
		s = strings.TrimSpace(x)
	default:
		return 0, true, false
	}
	if s == "" {
		return 0, false, true
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, true, false
	}
	return n, n != 0, true
}

// ids reads a list of ids (or a single id).
func (in input) ids(key string) ([]int64, bool) {
	v, ok := in[key]
	if !ok || v == nil {
		return nil, false
	}
	list, isList := v.([]any)
	if !isList {
		list = []any{v}
	}
	out := make([]int64, 0, len(list))
	for _, x := range list {
		id, present, valid := anyID(x)
		if !valid || !present {
			return nil, false
		}
		out = append(out, id)
	}
	return out, true
}

// strMap reads an object of strings (numbers are accepted as text).
func (in input) strMap(key string) (map[string]string, bool) {
	v, ok := in[key]
	if !ok || v == nil {
		return nil, true
	}
	if l, isList := v.([]any); isList && len(l) == 0 {
		return nil, true // PHP's empty array
	}
	m, isMap := v.(map[string]any)
	if !isMap {
		return nil, false
	}
	out := make(map[string]string, len(m))
	for k, x := range m {
		switch y := x.(type) {
		case string:
			out[k] = y
		case json.Number:
			out[k] = y.String()
		case nil:
			out[k] = ""
		default:
			return nil, false
		}
	}
	return out, true
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
