package klicktipp

import (
	"context"
	"net/http"
)

// Fields returns all data fields, key ("fieldFirstName", "field12345") →
// label (GET /field).
func (s *Session) Fields(ctx context.Context) (map[string]string, error) {
	status, body, err := s.call(ctx, http.MethodGet, "/field", nil)
	if err != nil {
		return nil, err
	}
	m, err := decodeStringMap(body)
	if err != nil {
		return nil, decodeErr("GET /field", status, err)
	}
	return m, nil
}
