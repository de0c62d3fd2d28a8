package klicktipp

import (
	"context"
	"errors"
	"net/http"
	"strings"
)

// Tags returns all tags, id → name (GET /tag).
func (s *Session) Tags(ctx context.Context) (map[int64]string, error) {
	status, body, err := s.call(ctx, http.MethodGet, "/tag", nil)
	if err != nil {
		return nil, err
	}
	m, err := decodeIDMap(body)
	if err != nil {
		return nil, decodeErr("GET /tag", status, err)
	}
	return m, nil
}

// CreateTag creates a manual tag and returns its id (POST /tag).
func (s *Session) CreateTag(ctx context.Context, name string) (int64, error) {
	const op = "POST /tag"
	in := map[string]string{"name": strings.TrimSpace(name)}
	status, body, err := s.call(ctx, http.MethodPost, "/tag", in)
	if err != nil {
		return 0, err
	}
	id, ok, err := decodeFirstID(body)
	if err == nil && !ok {
		err = errors.New("no tag id in answer")
	}
	if err != nil {
		return 0, decodeErr(op, status, err)
	}
	return id, nil
}
