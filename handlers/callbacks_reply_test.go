package handlers

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/marketing-assistant/assistant/sandbox"
	"github.com/marketing-assistant/assistant/services"
	"github.com/marketing-assistant/assistant/services/pgtest"
	"github.com/marketing-assistant/assistant/services/pii"
	"github.com/marketing-assistant/assistant/services/wxcrypto"
)

const replyBase = "https://app.example.test"

// oaqrEnv is wecomEnv with the OA in the given message mode and the
// callback handler answering scans from a real OAQRCodeService.
type oaqrEnv struct {
	*wecomEnv
	qr   *services.OAQRCodeService
	attr *services.Attributor
}

func newOAQREnv(t *testing.T, mode string, replies func(*services.OAQRCodeService) PassiveReplies) *oaqrEnv {
	t.Helper()
	ctx := context.Background()
	env := &wecomEnv{t: t, db: pgtest.NewDB(t), box: testPII(t), calls: &callLog{}, welcomes: &fakeWelcomes{texts: map[string]string{}}}
	sb, err := sandbox.Start(ctx, sandbox.Options{CallbackRetryDelay: 20 * time.Millisecond, Seed: 7,
		Official: sandbox.OfficialConfig{Mode: mode}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close(context.Background()) })
	env.sb = sb
	audit := services.NewAuditService(env.db)
	env.settings = services.NewSettingsService(env.db, env.box, audit)
	o := sb.Options()
	env.corp, env.oaApp = o.Corp.CorpID, o.Official.AppID
	if _, err := env.settings.SaveSandboxSettings(ctx, services.WeComSettings{CorpID: o.Corp.CorpID,
		AppMode: services.AppModeSelfBuilt, AgentID: o.Corp.AgentID, AgentSecret: o.Corp.AgentSecret,
		CallbackToken: o.Corp.Token, CallbackAESKey: o.Corp.EncodingAESKey,
		OAAppID: o.Official.AppID, OASecret: o.Official.Secret, OAToken: o.Official.Token,
		OAAESKey: o.Official.EncodingAESKey, OAMessageMode: o.Official.Mode}); err != nil {
		t.Fatal(err)
	}
	env.provider = env.newProvider()
	env.inbox = services.NewInboxService(env.db, env.box, audit)
	env.proc = env.newProcessor(env.provider)
	env.worker = env.newWorker(env.proc)
	e := &oaqrEnv{wecomEnv: env, attr: services.NewAttributor(pii.DeriveKey(make([]byte, 32), "attribution"))}
	e.qr = services.NewOAQRCodeService(env.db, audit, e.attr, replyBase)
	gin.SetMode(gin.ReleaseMode)
	g := gin.New()
	registerCallbacks(g, WeComDeps{Connections: env.provider, Inbox: env.inbox, WakeInbox: env.worker.Wake, OAReplies: replies(e.qr)})
	env.srv = httptest.NewServer(g)
	t.Cleanup(env.srv.Close)
	if err := sb.SetOACallback(ctx, env.srv.URL+"/callbacks/oa"); err != nil {
		t.Fatal(err)
	}
	env.stop = env.run(env.worker)
	t.Cleanup(func() { env.stop() })
	return e
}

// createCode makes a QR code in the sandbox through the real client, with
// a published form to link.
func (e *oaqrEnv) createCode(code string, in services.OAQRCodeInput) services.OAQRCode {
	e.t.Helper()
	ctx := context.Background()
	if _, err := e.db.Exec(`INSERT INTO forms (slug, title, consent_text, published) VALUES ($1, '春季试驾', '同意', true)
ON CONFLICT DO NOTHING`, "springspringab23"); err != nil {
		e.t.Fatal(err)
	}
	client, err := e.provider.WeChat(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	in.Code, in.Name, in.FormSlug = code, "海报 "+code, "springspringab23"
	q, err := e.qr.Create(ctx, client, e.oaApp, in, admin1)
	if err != nil {
		e.t.Fatal(err)
	}
	return q
}

// checkLink verifies that the reply's form link is attributed to code.
func (e *oaqrEnv) checkLink(t *testing.T, link, code string) {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil || !strings.HasPrefix(link, replyBase+"/f/springspringab23?") {
		t.Fatalf("reply link %q", link)
	}
	at, ok := e.attr.Verify(u.Query().Get("a"), "springspringab23")
	if !ok || at.Channel != code || u.Query().Get("utm_campaign") != code {
		t.Fatalf("link attribution = %+v %v", at, ok)
	}
}

// realReplies answers from the service itself.
func realReplies(q *services.OAQRCodeService) PassiveReplies { return q }

// A new fan scanning gets the reply (subscribe + qrscene_), an existing fan
// scanning again gets it too (SCAN); in safe mode the sandbox opened the
// sealed reply and verified its signature. Both scans are moments on the
// code's channel.
func TestScanGetsPassiveReply(t *testing.T) {
	for _, mode := range []string{sandbox.ModePlain, sandbox.ModeSafe} {
		t.Run(mode, func(t *testing.T) {
			e := newOAQREnv(t, mode, realReplies)
			q := e.createCode("poster_"+mode, services.OAQRCodeInput{Permanent: true, ReplyKind: services.ReplyText, ReplyText: "欢迎关注！点此报名"})
			fan := must[sandbox.WeChatUser](t)(e.sb.CreateWeChatUser(sandbox.NewWeChatUser{Nickname: "扫码人"}))
			ctx := context.Background()
			for i, want := range []string{"subscribe", "SCAN"} {
				r := must[sandbox.QRReply](t)(e.sb.ScanQRCode(ctx, sandbox.QRScanInput{WeChatUser: fan.ID, Ticket: q.Ticket}))
				if r.Event != want || r.Error != "" || r.MsgType != "text" || r.Encrypted != (mode == sandbox.ModeSafe) {
					t.Fatalf("scan %d: reply %+v", i, r)
				}
				if r.ToUserName != fan.OAOpenID || !strings.HasPrefix(r.Content, "欢迎关注！点此报名\n<a href=\"") {
					t.Fatalf("scan %d: reply %+v", i, r)
				}
				link := strings.TrimPrefix(r.Content, "欢迎关注！点此报名\n<a href=\"")
				e.checkLink(t, strings.ReplaceAll(link[:strings.Index(link, `"`)], "&amp;", "&"), q.Code)
			}
			e.settle()
			if n := e.count(`SELECT count(*) FROM moments WHERE channel = $1 AND kind = 'oa_subscribed'`, q.Code); n != 1 {
				t.Errorf("oa_subscribed on the channel: %d", n)
			}
			if n := e.count(`SELECT count(*) FROM moments WHERE channel = $1 AND kind = 'oa_scanned'`, q.Code); n != 1 {
				t.Errorf("oa_scanned on the channel: %d", n)
			}
			if got := e.sb.QRReplies(); len(got) != 2 {
				t.Errorf("sandbox recorded %d replies", len(got))
			}
		})
	}
}

// A news reply is one article whose Url is the attributed form link.
func TestScanGetsNewsReply(t *testing.T) {
	e := newOAQREnv(t, sandbox.ModeSafe, realReplies)
	q := e.createCode("news_1", services.OAQRCodeInput{ExpireDays: 7, ReplyKind: services.ReplyNews, NewsTitle: "春季试驾报名",
		NewsDescription: "填表即可预约", NewsPicURL: "https://img.example.com/a.jpg"})
	if q.Permanent || q.ExpiresAt == nil || time.Until(*q.ExpiresAt) < 6*24*time.Hour {
		t.Fatalf("temporary code = %+v", q)
	}
	fan := must[sandbox.WeChatUser](t)(e.sb.CreateWeChatUser(sandbox.NewWeChatUser{Nickname: "图文"}))
	r := must[sandbox.QRReply](t)(e.sb.ScanQRCode(context.Background(), sandbox.QRScanInput{WeChatUser: fan.ID, Scene: "news_1"}))
	if r.Error != "" || r.MsgType != "news" || len(r.Articles) != 1 || r.Articles[0].Title != "春季试驾报名" ||
		r.Articles[0].PicURL != "https://img.example.com/a.jpg" {
		t.Fatalf("reply %+v", r)
	}
	e.checkLink(t, r.Articles[0].URL, "news_1")
}

// The same scan callback delivered three times (WeChat retries) is stored
// once and makes one moment; every delivery is answered with the reply.
func TestReplayedScanOneMoment(t *testing.T) {
	e := newOAQREnv(t, sandbox.ModeSafe, realReplies)
	q := e.createCode("replay", services.OAQRCodeInput{Permanent: true, ReplyKind: services.ReplyText, ReplyText: "你好"})
	fan := must[sandbox.WeChatUser](t)(e.sb.CreateWeChatUser(sandbox.NewWeChatUser{Nickname: "重放"}))
	must[sandbox.QRReply](t)(e.sb.ScanQRCode(context.Background(), sandbox.QRScanInput{WeChatUser: fan.ID, Ticket: q.Ticket}))
	cbs := e.sb.Callbacks()
	plain := []byte(cbs[len(cbs)-1].Plaintext)
	cr := e.oaCrypter()
	for range 2 {
		body := e.postSealedBody(cr, plain)
		opened, err := cr.OpenReply(body)
		if err != nil || !strings.Contains(string(opened), "<Content><![CDATA[你好") {
			t.Fatalf("replayed delivery answered %q (%v)", body, err)
		}
	}
	e.settle()
	if n := e.count(`SELECT count(*) FROM wecom_inbox WHERE source = 'oa' AND event = 'subscribe'`); n != 1 {
		t.Errorf("inbox rows for the scan: %d", n)
	}
	if n := e.count(`SELECT count(*) FROM moments WHERE channel = 'replay'`); n != 1 {
		t.Errorf("moments for the scan: %d", n)
	}
}

// postSealedBody posts a safe-mode callback and returns the answer body.
func (e *oaqrEnv) postSealedBody(cr *wxcrypto.Crypter, plain []byte) []byte {
	e.t.Helper()
	ts, nonce := "1714037059", "486452656"
	enc, sig, err := cr.Seal(plain, ts, nonce)
	if err != nil {
		e.t.Fatal(err)
	}
	q := url.Values{"msg_signature": {sig}, "timestamp": {ts}, "nonce": {nonce}, "encrypt_type": {"aes"},
		"signature": {wxcrypto.Sign(cr.Token, ts, nonce)}}
	resp, err := http.Post(e.srv.URL+"/callbacks/oa?"+q.Encode(), "text/xml",
		strings.NewReader(string(wxcrypto.Envelope{ToUserName: "gh_x", Encrypt: enc}.Marshal())))
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	return b
}

type failingReplies struct{}

func (failingReplies) ReplyFor(context.Context, string) (services.OAReply, bool, error) {
	return services.OAReply{}, false, errors.New("database away")
}

// When the reply cannot be looked up the event is still stored and WeChat
// gets "success".
func TestReplyLookupFailsStillSuccess(t *testing.T) {
	e := newOAQREnv(t, sandbox.ModePlain, func(*services.OAQRCodeService) PassiveReplies { return failingReplies{} })
	q := e.createCode("broken", services.OAQRCodeInput{Permanent: true, ReplyKind: services.ReplyText, ReplyText: "你好"})
	fan := must[sandbox.WeChatUser](t)(e.sb.CreateWeChatUser(sandbox.NewWeChatUser{Nickname: "失败"}))
	r := must[sandbox.QRReply](t)(e.sb.ScanQRCode(context.Background(), sandbox.QRScanInput{WeChatUser: fan.ID, Ticket: q.Ticket}))
	if r.MsgType != "" || r.Error != "" {
		t.Fatalf("reply %+v, want plain success", r)
	}
	e.settle()
	if n := e.count(`SELECT count(*) FROM moments WHERE channel = 'broken'`); n != 1 {
		t.Errorf("moments: %d", n)
	}
}

// A retired code no longer answers, and another instance sees a new code
// within its Recheck.
func TestReplyCacheFollowsChanges(t *testing.T) {
	e := newOAQREnv(t, sandbox.ModePlain, realReplies)
	other := services.NewOAQRCodeService(e.db, services.NewAuditService(e.db), e.attr, replyBase)
	other.Recheck = 10 * time.Millisecond
	ctx := context.Background()
	if _, ok, err := other.ReplyFor(ctx, "later"); ok || err != nil {
		t.Fatalf("before create: %v %v", ok, err)
	}
	q := e.createCode("later", services.OAQRCodeInput{Permanent: true, ReplyKind: services.ReplyText, ReplyText: "你好"})
	time.Sleep(20 * time.Millisecond)
	if r, ok, err := other.ReplyFor(ctx, "later"); !ok || err != nil || !strings.HasPrefix(r.Content, "你好") {
		t.Fatalf("other instance after create: %+v %v %v", r, ok, err)
	}
	if err := e.qr.Retire(ctx, q.ID, admin1); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	if _, ok, _ := other.ReplyFor(ctx, "later"); ok {
		t.Fatal("other instance still answers a retired code")
	}
	fan := must[sandbox.WeChatUser](t)(e.sb.CreateWeChatUser(sandbox.NewWeChatUser{Nickname: "停用"}))
	if r := must[sandbox.QRReply](t)(e.sb.ScanQRCode(ctx, sandbox.QRScanInput{WeChatUser: fan.ID, Ticket: q.Ticket})); r.MsgType != "" {
		t.Fatalf("retired code replied %+v", r)
	}
}
