package klicktipp

import (
	"context"
	"net/http"
)

// Lists returns all opt-in processes, id → name (GET /list). The entry with
// an empty name is the account's default double opt-in.
func (s *Session) Lists(ctx context.Context) (map[int64]string, error) {
	status, body, err := s.call(ctx, http.MethodGet, "/list", nil)
	if err != nil {
		return nil, err
	}
	m, err := decodeIDMap(body)
	if err != nil {
		return nil, decodeErr("GET /list", status, err)
	}
	return m, nil
}
