package services

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"time"
)

// chinaTime is the day boundary of "once per day" (Asia/Shanghai has no DST).
var chinaTime = time.FixedZone("CST", 8*3600)

// FormView is a person seen opening a form inside WeChat.
type FormView struct {
	OAAppID, OAOpenID, UnionID string
	MPAppID, MPOpenID          string
	Attribution                string // raw token; only a valid one counts
}

// RecordView links the viewer's WeChat ids and records a form_viewed moment,
// once per identity, form and (China) day. Without any WeChat id it does
// nothing: there is nobody to attach the view to.
func (s *SubmissionService) RecordView(ctx context.Context, f Form, v FormView) error {
	o := Observation{Source: "form", Ref: "form:" + strconv.FormatInt(f.ID, 10) + ":view"}
	if v.OAOpenID != "" {
		o.Identities = append(o.Identities, IdentityInput{Kind: KindOAOpenID, Scope: v.OAAppID, Key: v.OAOpenID})
	}
	if v.MPOpenID != "" {
		o.Identities = append(o.Identities, IdentityInput{Kind: KindMPOpenID, Scope: v.MPAppID, Key: v.MPOpenID})
	}
	if v.UnionID != "" {
		o.Identities = append(o.Identities, IdentityInput{Kind: KindUnionID, Key: v.UnionID})
	}
	if len(o.Identities) == 0 {
		return nil
	}
	at, _ := s.attr.Verify(v.Attribution, f.Slug)
	first := o.Identities[0]
	day := s.now().In(chinaTime).Format("2006-01-02")
	detail, _ := json.Marshal(map[string]any{"form_id": f.ID, "form_slug": f.Slug, "channel": at.Channel})
	o.Moments = []MomentInput{{Identity: 0, Kind: "form_viewed", Channel: "form", EmployeeUserID: at.EmployeeUserID,
		Title: f.Title, Detail: detail,
		DedupKey: "form_viewed:" + strconv.FormatInt(f.ID, 10) + ":" + string(first.Kind) + ":" + first.Key + ":" + day}}
	_, err := s.ids.Link(ctx, o)
	return err
}

// MPSession is what a mini program session token carries (sealed: the
// token is opaque and tamper-proof).
type MPSession struct {
	AppID   string `json:"a"`
	OpenID  string `json:"o"`
	UnionID string `json:"u,omitempty"`
	UserID  int64  `json:"id"`
	// Phone is the E.164 number verified by getuserphonenumber, if any.
	Phone     string `json:"p,omitempty"`
	ExpiresAt int64  `json:"t"`
}

// mpSessionTTL is the lifetime of a mini program session token.
const mpSessionTTL = 24 * time.Hour

const mpSessionColumn = "mp.session"

// StartMPSession links a mini program user (mp_openid + unionid) with an
// mp_authorized moment (once a day) and returns a session token.
// Errors: EINVALID.
func (s *SubmissionService) StartMPSession(ctx context.Context, appID, openID, unionID string) (string, MPSession, error) {
	o := Observation{Source: "mp", Ref: "mp:session", Identities: []IdentityInput{
		{Kind: KindMPOpenID, Scope: appID, Key: openID}}}
	if unionID != "" {
		o.Identities = append(o.Identities, IdentityInput{Kind: KindUnionID, Key: unionID})
	}
	day := s.now().In(chinaTime).Format("2006-01-02")
	o.Moments = []MomentInput{{Identity: 0, Kind: "mp_authorized", Channel: "mp", Title: "小程序授权",
		DedupKey: "mp_authorized:" + appID + ":" + openID + ":" + day}}
	r, err := s.ids.Link(ctx, o)
	if err != nil {
		return "", MPSession{}, err
	}
	sess := MPSession{AppID: appID, OpenID: openID, UnionID: unionID, UserID: r.UserID}
	return s.sealMPSession(sess), sess, nil
}

// AddMPPhone links the phone verified by getuserphonenumber to the session's
// user and returns a new token carrying it. Errors: EINVALID (not a mainland
// mobile).
func (s *SubmissionService) AddMPPhone(ctx context.Context, sess MPSession, phone string) (string, MPSession, error) {
	e164, err := MainlandMobile(phone)
	if err != nil {
		return "", MPSession{}, err
	}
	o := Observation{Source: "mp", Ref: "mp:phone", Verified: true, Identities: []IdentityInput{
		{Kind: KindMPOpenID, Scope: sess.AppID, Key: sess.OpenID}, {Kind: KindPhone, Key: e164, Verified: true}}}
	if sess.UnionID != "" {
		o.Identities = append(o.Identities, IdentityInput{Kind: KindUnionID, Key: sess.UnionID})
	}
	r, err := s.ids.Link(ctx, o)
	if err != nil {
		return "", MPSession{}, err
	}
	sess.UserID, sess.Phone = r.UserID, e164
	return s.sealMPSession(sess), sess, nil
}

func (s *SubmissionService) sealMPSession(sess MPSession) string {
	sess.ExpiresAt = s.now().Add(mpSessionTTL).Unix()
	b, _ := json.Marshal(sess)
	return base64.RawURLEncoding.EncodeToString(s.box.Seal(mpSessionColumn, b))
}

// OpenMPSession checks a session token. Errors: EUNAUTHORIZED (missing,
// forged, expired).
func (s *SubmissionService) OpenMPSession(token string) (MPSession, error) {
	bad := Errorf(EUNAUTHORIZED, "小程序会话无效或已过期，请重新登录")
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(token) > 2000 {
		return MPSession{}, bad
	}
	b, err := s.box.Open(mpSessionColumn, raw)
	if err != nil {
		return MPSession{}, bad
	}
	var sess MPSession
	if json.Unmarshal(b, &sess) != nil || sess.OpenID == "" || s.now().Unix() >= sess.ExpiresAt {
		return MPSession{}, bad
	}
	return sess, nil
}
