package services

// Moment dedup keys for happenings that more than one path records: the
// callback handlers, the demo import, the checkpointed sync and the sidebar's
// on-the-spot fetch. Each key names the happening itself (the relation and
// its creation time, the subscription and its time), never the path or the
// callback that reported it, so a happening seen twice is one moment.

// contactAddedKey identifies "employee userID added customer ext" at the
// relation's createtime (seconds).
func contactAddedKey(corpID, userID, ext string, createTime int64) string {
	return dedup("wecom_added", corpID, userID, ext, createTime)
}

// subscribedKey identifies a subscription of openid to the Official Account
// at subscribeTime (seconds); the QR scene is detail, not identity.
func subscribedKey(appID, openID string, subscribeTime int64) string {
	return dedup("oa_subscribed", appID, openID, subscribeTime)
}
