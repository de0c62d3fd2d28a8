package clickyid

import "context"

const opTargetGroups = "GET /target-groups"

// TargetGroup is one of the team's target groups: the email domains it accepts
// (an email matches a domain or any subdomain of it).
type TargetGroup struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	Domains []string `json:"domains"`
}

// TargetGroups lists the team's target groups. It needs the scope
// validate:target-groups (else apis.ErrForbidden); other errors as for
// ValidateBulk.
func (c *Client) TargetGroups(ctx context.Context) ([]TargetGroup, error) {
	body, err := c.call(ctx, "GET", "/target-groups", nil)
	if err != nil {
		return nil, err
	}
	out, err := decodeList[TargetGroup](body, "targetGroups")
	if err != nil {
		return nil, undecodable(opTargetGroups, 200, err)
	}
	return out, nil
}
