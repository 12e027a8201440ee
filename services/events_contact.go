package services

import (
	"context"

	"time"

	"github.com/marketing-assistant/assistant/services/wecom"
)

// added handles add_external_contact and add_half_external_contact: the
// welcome message goes first (its code lives 20 s), then the channel's tags,
// then the contact is read (so the mirrored relation shows the tags),
// mirrored and linked with a wecom_added moment carrying the channel.
func (h handling) added(ctx context.Context) error {
	c, err := h.client()
	if err != nil {
		return err
	}
	ch := h.channel(ctx)
	h.welcome(ctx, c, ch)
	tagged := h.tag(ctx, c, ch)
	ev := h.ev
	d, err := c.GetExternalContact(ctx, ev.ExternalUserID)
	switch {
	case wecom.IsAPIError(err, 84061, 40096):
		// Deleted again before we looked: still record the add itself.
		d = wecom.ContactDetail{Contact: wecom.ExternalContact{ExternalUserID: ev.ExternalUserID}}
	case err != nil:
		return err
	default:
		if err := h.p.mirror.SaveContactDetail(ctx, h.corp, d); err != nil {
			return err
		}
		if err := h.p.mirror.MarkFollowAdded(ctx, h.corp, ev.UserID, ev.ExternalUserID); err != nil {
			return err
		}
	}
	f := followOf(d, ev.UserID)
	state := firstNonEmpty(ev.State, f.State)
	ids := h.contactIdentities(d.Contact, f.RemarkMobiles)
	m := MomentInput{Identity: 0, Kind: "wecom_added", Channel: state, EmployeeUserID: ev.UserID,
		Title: "添加了企业微信", Detail: detail("state", state, "add_way", f.AddWay, "half", ev.ChangeType == "add_half_external_contact"),
		DedupKey: contactAddedKey(h.corp, ev.UserID, ev.ExternalUserID, relationTime(f.CreateTime, ev.CreateTime))}
	ms := []MomentInput{m}
	if tagged {
		ms = append(ms, MomentInput{Kind: "wecom_tagged", Channel: state, EmployeeUserID: ev.UserID, Title: "按渠道打上企业标签",
			Detail: detail("add", ch.TagIDs), DedupKey: dedup("wecom_tagged", h.corp, ev.UserID, ev.ExternalUserID, "channel", state)})
	}
	return h.link(ctx, "wecom", ids, ms)
}

// channel looks up what the event's channel (its contact-way state) does.
// A failed lookup is logged and treated as no channel: the add itself must
// still be recorded.
func (h handling) channel(ctx context.Context) WelcomeMessage {
	if h.ev.State == "" || h.p.Welcomes == nil {
		return WelcomeMessage{}
	}
	msg, ok, err := h.p.Welcomes.WelcomeFor(ctx, h.corp, h.ev.State)
	if err != nil {
		h.p.log.Warn("events: channel lookup failed", "err", err, "ref", h.ref)
	}
	if !ok {
		return WelcomeMessage{}
	}
	return msg
}

// tag puts the channel's corp tags on the new relation through mark_tag (an
// API call, so WeCom sends no callback for it) and reports whether it did.
// A refusal is logged; the add is recorded either way.
func (h handling) tag(ctx context.Context, c *wecom.Client, ch WelcomeMessage) bool {
	if len(ch.TagIDs) == 0 {
		return false
	}
	if err := c.MarkTag(ctx, h.ev.UserID, h.ev.ExternalUserID, ch.TagIDs, nil); err != nil {
		h.p.log.Warn("events: channel tags not applied", "err", err, "ref", h.ref, "userid", h.ev.UserID)
		return false
	}
	return true
}

// welcome sends the channel's welcome message for the event's code. Failures
// are logged, never retried: the code is single use and lives 20 s, so a
// retry of the whole item must not fail on it (41050/41051).
func (h handling) welcome(ctx context.Context, c *wecom.Client, msg WelcomeMessage) {
	ev := h.ev
	if ev.WelcomeCode == "" || (msg.Text == "" && len(msg.Links) == 0) {
		return
	}
	wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := c.SendWelcomeMsg(wctx, ev.WelcomeCode, msg.Text, msg.Links); err != nil {
		h.p.log.Warn("events: welcome message not sent", "err", err, "ref", h.ref, "userid", ev.UserID)
	}
}

// contactIdentities are the keys a customer brings: the external_userid, the
// unionid when WeCom gives it, and the remark phones (typed by the employee,
// so unverified).
func (h handling) contactIdentities(c wecom.ExternalContact, phones []string) []IdentityInput {
	attrs := Attributes{Name: c.Name, Avatar: c.Avatar, Company: c.CorpName}
	ids := []IdentityInput{{Kind: KindExternalUserID, Scope: h.corp, Key: c.ExternalUserID, Attrs: attrs}}
	if c.UnionID != "" {
		ids = append(ids, IdentityInput{Kind: KindUnionID, Key: c.UnionID, Attrs: Attributes{Nickname: c.Name}})
	}
	for _, p := range phones {
		if _, err := NormalizePhone(p); err == nil {
			ids = append(ids, IdentityInput{Kind: KindPhone, Key: p})
		}
	}
	return ids
}

// relationTime is the relation's createtime as WeCom reports it, falling back
// to the event's time when the contact could not be read.
func relationTime(createTime, eventTime int64) int64 {
	if createTime > 0 {
		return createTime
	}
	return eventTime
}

func followOf(d wecom.ContactDetail, userID string) wecom.FollowInfo {
	for _, f := range d.Follows {
		if f.UserID == userID {
			return f
		}
	}
	return wecom.FollowInfo{UserID: userID}
}

// edited re-reads the contact (the event carries no detail), mirrors it and
// links new remark phones; a change of corp tags records wecom_tagged.
func (h handling) edited(ctx context.Context) error {
	c, err := h.client()
	if err != nil {
		return err
	}
	ev := h.ev
	d, err := c.GetExternalContact(ctx, ev.ExternalUserID)
	if wecom.IsAPIError(err, 84061, 40096) {
		return nil // gone since; the delete event tells the rest
	}
	if err != nil {
		return err
	}
	before, err := h.p.mirror.FollowTagIDs(ctx, h.corp, ev.UserID, ev.ExternalUserID)
	if err != nil {
		return err
	}
	if err := h.p.mirror.SaveContactDetail(ctx, h.corp, d); err != nil {
		return err
	}
	f := followOf(d, ev.UserID)
	var ms []MomentInput
	if added, removed := diffTags(before, tagIDsOf(f)); len(added)+len(removed) > 0 {
		ms = append(ms, MomentInput{Kind: "wecom_tagged", EmployeeUserID: ev.UserID, Title: "企业标签变更",
			Detail:   detail("added", added, "removed", removed),
			DedupKey: dedup("wecom_tagged", h.corp, ev.UserID, ev.ExternalUserID, ev.CreateTime)})
	}
	return h.link(ctx, "wecom", h.contactIdentities(d.Contact, f.RemarkMobiles), ms)
}

// tagIDsOf returns the corp tag ids of a relation (batch/get_by_user gives
// tag_id; externalcontact/get gives tags).
func tagIDsOf(f wecom.FollowInfo) []string {
	if len(f.TagIDs) > 0 {
		return f.TagIDs
	}
	var out []string
	for _, t := range f.Tags {
		if t.TagID != "" {
			out = append(out, t.TagID)
		}
	}
	return out
}

func diffTags(before, after []string) (added, removed []string) {
	in := func(s []string, v string) bool {
		for _, x := range s {
			if x == v {
				return true
			}
		}
		return false
	}
	for _, t := range after {
		if !in(before, t) {
			added = append(added, t)
		}
	}
	for _, t := range before {
		if !in(after, t) {
			removed = append(removed, t)
		}
	}
	return added, removed
}

// deleted handles del_external_contact (byStaff) and del_follow_user.
func (h handling) deleted(ctx context.Context, byStaff bool) error {
	ev := h.ev
	if err := h.p.mirror.MarkFollowDeleted(ctx, h.corp, ev.UserID, ev.ExternalUserID, byStaff, ev.at()); err != nil {
		return err
	}
	kind, title := MomentKind("wecom_deleted_by_customer"), "删除了员工"
	if byStaff {
		kind, title = "wecom_deleted_by_staff", "被员工删除"
	}
	m := MomentInput{Kind: kind, EmployeeUserID: ev.UserID, Title: title, Detail: detail("source", ev.Source),
		DedupKey: dedup(kind, h.corp, ev.UserID, ev.ExternalUserID, ev.CreateTime)}
	ids := []IdentityInput{{Kind: KindExternalUserID, Scope: h.corp, Key: ev.ExternalUserID}}
	return h.link(ctx, "wecom", ids, []MomentInput{m})
}

// transferFailed: the takeover member (UserID) did not get the customer, so
// no relation is mirrored for them. There is no moment kind for it; the
// customer stays with the previous member, which the next sync confirms.
func (h handling) transferFailed(ctx context.Context) error {
	ev := h.ev
	h.p.log.Info("events: customer transfer failed", "userid", ev.UserID, "reason", ev.FailReason, "ref", h.ref)
	return h.p.mirror.MarkFollowDeleted(ctx, h.corp, ev.UserID, ev.ExternalUserID, false, ev.at())
}

func firstNonEmpty(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}
