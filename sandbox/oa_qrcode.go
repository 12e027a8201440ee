package sandbox

import (
	"context"
	"encoding/xml"
	"net/http"
	"slices"
	"strings"
	"time"

	"rsc.io/qr"

	"github.com/marketing-assistant/assistant/services/wxcrypto"
)

// oaCampaigns is the sandbox state of OA QR code replies and template
// messages (world.OACampaigns; created on first use).
type oaCampaigns struct {
	Replies []*QRReply `json:"replies"`
	// TemplateDailyLimit caps template messages per day (0 = 100,000, the
	// documented default); over it message/template/send answers 45009.
	TemplateDailyLimit int             `json:"template_daily_limit,omitempty"`
	TemplateDay        string          `json:"template_day,omitempty"`
	TemplateSentToday  int             `json:"template_sent_today,omitempty"`
	Blocked            map[string]bool `json:"blocked,omitempty"` // openids whose template jobs end "failed:user block"
}

// campaigns returns the campaign state; callers hold s.mu.
func (s *Sandbox) campaigns() *oaCampaigns {
	if s.w.OACampaigns == nil {
		s.w.OACampaigns = &oaCampaigns{}
	}
	return s.w.OACampaigns
}

const maxQRReplies = 500

// QRScanInput is a WeChat person scanning an OA QR code, named by its
// ticket or its scene value.
type QRScanInput struct {
	WeChatUser string `json:"wechat_user"`
	Ticket     string `json:"ticket,omitempty"`
	Scene      string `json:"scene,omitempty"`
}

// QRReply is the app's passive reply to one scan, as the sandbox opened and
// checked it. MsgType is "" when the app answered "success" or nothing.
type QRReply struct {
	CallbackID   int64          `json:"callback_id"`
	Event        string         `json:"event"` // subscribe (new fan) or SCAN
	OpenID       string         `json:"openid"`
	Scene        string         `json:"scene"`
	At           time.Time      `json:"at"`
	Encrypted    bool           `json:"encrypted"` // safe mode: the reply was sealed and its MsgSignature verified
	Error        string         `json:"error,omitempty"`
	ToUserName   string         `json:"to_user_name,omitempty"`
	FromUserName string         `json:"from_user_name,omitempty"`
	CreateTime   int64          `json:"create_time,omitempty"`
	MsgType      string         `json:"msg_type,omitempty"`
	Content      string         `json:"content,omitempty"`
	Articles     []ReplyArticle `json:"articles,omitempty"`
}

// ReplyArticle is one item of a news reply.
type ReplyArticle struct {
	Title       string `xml:"Title" json:"title"`
	Description string `xml:"Description" json:"description"`
	PicURL      string `xml:"PicUrl" json:"pic_url"`
	URL         string `xml:"Url" json:"url"`
}

type replyXML struct {
	XMLName      xml.Name       `xml:"xml"`
	ToUserName   string         `xml:"ToUserName"`
	FromUserName string         `xml:"FromUserName"`
	CreateTime   string         `xml:"CreateTime"`
	MsgType      string         `xml:"MsgType"`
	Content      string         `xml:"Content"`
	ArticleCount int            `xml:"ArticleCount"`
	Articles     []ReplyArticle `xml:"Articles>item"`
}

// ScanQRCode is a person scanning a QR code made with qrcode/create: a new
// fan fires subscribe (EventKey qrscene_<scene>), a fan fires SCAN. It waits
// for the delivery and returns the app's passive reply, opened (safe mode:
// signature checked, decrypted) and checked as WeChat would.
func (s *Sandbox) ScanQRCode(ctx context.Context, in QRScanInput) (QRReply, error) {
	id, base, err := s.fireScan(in)
	if err != nil {
		return QRReply{}, err
	}
	rec, err := s.awaitDelivery(ctx, id)
	if err != nil {
		return QRReply{}, err
	}
	r := s.openReply(base, rec)
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.campaigns()
	c.Replies = append(c.Replies, &r)
	if len(c.Replies) > maxQRReplies {
		c.Replies = slices.Clone(c.Replies[len(c.Replies)-maxQRReplies:])
	}
	s.touch()
	return r, nil
}

func (s *Sandbox) fireScan(in QRScanInput) (int64, QRReply, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.w.person(in.WeChatUser)
	if p == nil {
		return 0, QRReply{}, notFound("wechat user %q not found", in.WeChatUser)
	}
	q := s.findQRCode(in.Ticket, in.Scene)
	if q == nil {
		return 0, QRReply{}, notFound("no QR code with this ticket or scene (create it with qrcode/create)")
	}
	if q.ExpireAt != 0 && s.now().Unix() >= q.ExpireAt {
		return 0, QRReply{}, invalid("QR code expired: WeChat sends no event for it")
	}
	base := QRReply{Event: "SCAN", OpenID: p.OAOpenID, Scene: q.scene()}
	if p.Subscribed {
		_ = s.scanLocked(p, q.Ticket)
	} else {
		base.Event = "subscribe"
		s.subscribeLocked(p, q.Ticket)
	}
	rec := s.w.Callbacks[len(s.w.Callbacks)-1]
	if rec.Status == CallbackNoURL {
		return 0, QRReply{}, conflict("no OA callback URL configured")
	}
	base.CallbackID = rec.ID
	return rec.ID, base, nil
}

func (s *Sandbox) findQRCode(ticket, scene string) *QRCode {
	if q := s.w.QRCodes[ticket]; ticket != "" && q != nil {
		return q
	}
	for _, q := range s.w.QRCodes {
		if scene != "" && q.scene() == scene {
			return q
		}
	}
	return nil
}

// awaitDelivery waits until the callback is delivered or given up on.
func (s *Sandbox) awaitDelivery(ctx context.Context, id int64) (CallbackRecord, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		s.mu.Lock()
		var rec CallbackRecord
		if r := s.record(id); r != nil {
			rec = *r
			rec.Attempts = slices.Clone(r.Attempts)
		}
		s.mu.Unlock()
		if rec.Status != CallbackPending {
			return rec, nil
		}
		if !sleepCtx(ctx, 5*time.Millisecond) {
			return CallbackRecord{}, invalid("callback %d not delivered in time", id)
		}
	}
}

// openReply reads the answer of the last attempt the way WeChat does.
func (s *Sandbox) openReply(base QRReply, rec CallbackRecord) QRReply {
	r := base
	r.At = s.now()
	if len(rec.Attempts) == 0 || rec.Status != CallbackDelivered {
		r.Error = "callback not delivered: " + rec.Status
		return r
	}
	answer := strings.TrimSpace(rec.Attempts[len(rec.Attempts)-1].Answer)
	if answer == "" || answer == "success" {
		return r
	}
	plain, err := s.replyPlaintext(answer)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	r.Encrypted = s.Options().Official.Mode != ModePlain
	s.checkReply(&r, plain)
	return r
}

// replyPlaintext opens a safe-mode reply (MsgSignature checked) or returns a
// plain-mode one as is.
func (s *Sandbox) replyPlaintext(answer string) ([]byte, error) {
	o := s.Options().Official
	if o.Mode == ModePlain {
		return []byte(answer), nil
	}
	cr, err := wxcrypto.NewCrypter(o.Token, o.EncodingAESKey, o.AppID)
	if err != nil {
		return nil, err
	}
	return cr.OpenReply([]byte(answer))
}

// checkReply parses the reply and records what WeChat would refuse.
func (s *Sandbox) checkReply(r *QRReply, plain []byte) {
	var x replyXML
	if err := xml.Unmarshal(plain, &x); err != nil {
		r.Error = "reply is not XML: " + err.Error()
		return
	}
	r.ToUserName, r.FromUserName, r.MsgType, r.Content, r.Articles = x.ToUserName, x.FromUserName, x.MsgType, x.Content, x.Articles
	var problems []string
	if x.ToUserName != r.OpenID {
		problems = append(problems, "ToUserName is not the fan's openid")
	}
	if x.FromUserName != s.Options().Official.OriginalID {
		problems = append(problems, "FromUserName is not the account's original id")
	}
	if t, ok := unixSeconds(x.CreateTime); ok {
		r.CreateTime = t
	} else {
		problems = append(problems, "CreateTime is not unix seconds")
	}
	problems = append(problems, checkReplyBody(x)...)
	r.Error = strings.Join(problems, "; ")
}

func checkReplyBody(x replyXML) []string {
	switch x.MsgType {
	case "text":
		if x.Content == "" {
			return []string{"text reply without Content"}
		}
	case "news":
		if x.ArticleCount != len(x.Articles) || len(x.Articles) == 0 || len(x.Articles) > 8 {
			return []string{"news reply: ArticleCount does not match 1–8 items"}
		}
	default:
		return []string{"unsupported MsgType " + x.MsgType}
	}
	return nil
}

func unixSeconds(v string) (int64, bool) {
	var n int64
	if v == "" {
		return 0, false
	}
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, n > 0
}

// QRReplies returns the recorded replies, oldest first.
func (s *Sandbox) QRReplies() []QRReply {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []QRReply{}
	for _, r := range s.campaigns().Replies {
		out = append(out, *r)
	}
	return out
}

// showQRCode serves the QR image of a ticket, standing in for
// mp.weixin.qq.com/cgi-bin/showqrcode: a PNG encoding the code's url.
func (s *Sandbox) showQRCode(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	q := s.w.QRCodes[r.URL.Query().Get("ticket")]
	var content string
	if q != nil {
		content = qrContentURL(q.Ticket)
	}
	s.mu.Unlock()
	if q == nil {
		http.Error(w, "invalid ticket", http.StatusNotFound)
		return
	}
	code, err := qr.Encode(content, qr.M)
	if err != nil {
		http.Error(w, "cannot encode", http.StatusInternalServerError)
		return
	}
	code.Scale = 6
	w.Header().Set("Content-Type", "image/png")
	_, _ = w.Write(code.PNG())
}

// qrContentURL is what the QR code encodes (qrcode/create's url).
func qrContentURL(ticket string) string { return "https://weixin.qq.com/q/" + ticket[2:26] }

// routeOAQR installs the QR image, the scan-with-reply control and the
// template controls.
func (s *Sandbox) routeOAQR(mux *http.ServeMux) {
	mux.HandleFunc("GET /cgi-bin/showqrcode", s.showQRCode)
	mux.HandleFunc("POST /api/oa/qr-scan", jsonStatus(http.StatusOK, func(r *http.Request) (any, error) {
		var in QRScanInput
		if err := decodeJSON(r, &in); err != nil {
			return nil, err
		}
		return s.ScanQRCode(r.Context(), in)
	}))
	mux.HandleFunc("GET /api/oa/qr-replies", jsonAPI(func(*http.Request) (any, error) { return s.QRReplies(), nil }))
	s.routeOATemplates(mux)
}

// oaQRCodeCreate: POST /cgi-bin/qrcode/create (QR_SCENE, QR_STR_SCENE,
// QR_LIMIT_*). Bad input answers 40058 (missing or out-of-range scene,
// negative expire_seconds) or 40054 (unknown action_name); expire_seconds
// above 30 days is clamped, as WeChat does.
func (s *Sandbox) oaQRCodeCreate(c *call) (any, *apiError) {
	var req qrCreateRequest
	if aerr := c.decode(&req); aerr != nil {
		return nil, aerr
	}
	q := &QRCode{ActionName: req.ActionName, SceneID: req.ActionInfo.Scene.SceneID, SceneStr: req.ActionInfo.Scene.SceneStr}
	temporary := req.ActionName == "QR_SCENE" || req.ActionName == "QR_STR_SCENE"
	if aerr := req.check(temporary); aerr != nil {
		return nil, aerr
	}
	q.Ticket = s.w.newID("qrticket", "gQ", 96)
	body := map[string]any{"ticket": q.Ticket, "url": qrContentURL(q.Ticket)}
	if temporary {
		exp := req.ExpireSeconds
		if exp <= 0 {
			exp = 30
		}
		exp = min(exp, 2592000)
		q.ExpireAt = s.now().Unix() + exp
		body["expire_seconds"] = exp
	}
	s.w.QRCodes[q.Ticket] = q
	s.touch()
	return body, nil
}

type qrCreateRequest struct {
	ExpireSeconds int64  `json:"expire_seconds"`
	ActionName    string `json:"action_name"`
	ActionInfo    struct {
		Scene struct {
			SceneID  int64  `json:"scene_id"`
			SceneStr string `json:"scene_str"`
		} `json:"scene"`
	} `json:"action_info"`
}

func (req qrCreateRequest) check(temporary bool) *apiError {
	sc := req.ActionInfo.Scene
	switch req.ActionName {
	case "QR_SCENE", "QR_LIMIT_SCENE":
		if sc.SceneID <= 0 || sc.SceneID > 1<<32-1 || (!temporary && sc.SceneID > 100000) {
			return errBadParam("scene_id")
		}
	case "QR_STR_SCENE", "QR_LIMIT_STR_SCENE":
		if len(sc.SceneStr) < 1 || len(sc.SceneStr) > 64 {
			return errBadParam("scene_str")
		}
	default:
		return apiErr(40054, "invalid action_name")
	}
	if req.ExpireSeconds < 0 {
		return errBadParam("expire_seconds")
	}
	return nil
}
