package klicktipp

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"crmsync/internal/apis"
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

// CreateTag creates a manual tag and returns its id (POST /tag). When the
// create is refused (KlickTipp answers 406 ["Tag konnte nicht erstellt
// werden."] when it creates nothing, for example because the name exists,
// perhaps created by another replica a moment ago), it lists the tags
// again (GET /tag) and returns the id of the one with that name
// (case-insensitively, the lowest id when there are several); only when
// there is none is the refusal returned.
func (s *Session) CreateTag(ctx context.Context, name string) (int64, error) {
	const op = "POST /tag"
	name = strings.TrimSpace(name)
	in := map[string]string{"name": name}
	status, body, err := s.call(ctx, http.MethodPost, "/tag", in)
	if errors.Is(err, apis.ErrValidation) && name != "" {
		tags, lerr := s.Tags(ctx)
		if lerr != nil {
			return 0, lerr
		}
		if id, ok := tagNamed(tags, name); ok {
			return id, nil
		}
	}
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

// tagNamed finds the lowest id of a tag called name (case-insensitively).
func tagNamed(tags map[int64]string, name string) (int64, bool) {
	var best int64
	for id, n := range tags {
		if strings.EqualFold(strings.TrimSpace(n), name) && (best == 0 || id < best) {
			best = id
		}
	}
	return best, best != 0
}
