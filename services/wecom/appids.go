package wecom

// AppIDs are the public ids the client is configured with: the scopes of
// the ids it returns (an OA openid is per OA appid, an external_userid per
// corp).
type AppIDs struct {
	CorpID  string
	OAAppID string
	MPAppID string
}

// AppIDs returns the configured corp id and Official Account / mini program
// appids ("" when not configured).
func (c *Client) AppIDs() AppIDs {
	return AppIDs{CorpID: c.cfg.CorpID, OAAppID: c.cfg.OA.AppID, MPAppID: c.cfg.MP.AppID}
}
