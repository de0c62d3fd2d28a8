package clickyid

import "context"

const opOffers = "GET /offers"

// Offer is one of the team's offers; an email qualifies for it through the
// offer's target groups.
type Offer struct {
	ID             string   `json:"id"`
	Name           string   `json:"name"`
	TargetGroupIDs []string `json:"targetGroupIds"`
}

// Offers lists the team's offers. It needs the scope validate:offers (else
// apis.ErrForbidden); other errors as for ValidateBulk.
func (c *Client) Offers(ctx context.Context) ([]Offer, error) {
	body, err := c.call(ctx, "GET", "/offers", nil)
	if err != nil {
		return nil, err
	}
	out, err := decodeList[Offer](body, "offers")
	if err != nil {
		return nil, undecodable(opOffers, 200, err)
	}
	return out, nil
}
