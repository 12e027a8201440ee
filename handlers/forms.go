package handlers

import (
	"context"
	"crypto/rand"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/marketing-assistant/assistant/services"
	"github.com/marketing-assistant/assistant/web"
)

// FormStore is what the form pages need of form definitions.
type FormStore interface {
	FindPublishedForm(ctx context.Context, slug string) (services.Form, error)
	FindFormByID(ctx context.Context, id int64) (services.Form, error)
	ListForms(ctx context.Context, v services.Operator) ([]services.FormSummary, error)
	CreateFormBy(ctx context.Context, v services.Operator, in services.FormInput) (services.Form, error)
	UpdateFormBy(ctx context.Context, v services.Operator, id int64, in services.FormInput) (services.Form, error)
	RedirectAllowed(ctx context.Context, raw string) (bool, error)
	RedirectHosts(ctx context.Context) ([]string, error)
	SetRedirectHostsBy(ctx context.Context, v services.Operator, hosts []string) error
	ContactQR(ctx context.Context, cw services.ContactWayCreator, f services.Form, employee string) (string, error)
}

// SubmissionStore is what the form pages and the mini-program API need of
// submissions.
type SubmissionStore interface {
	Submit(ctx context.Context, slug string, in services.SubmissionInput) (services.Submission, error)
	FindSubmission(ctx context.Context, formID int64, publicID string) (services.Submission, error)
	RecordView(ctx context.Context, f services.Form, v services.FormView) error
	ListSubmissions(ctx context.Context, v services.Operator, f services.SubmissionFilter) ([]services.SubmissionRow, error)
	ExportSubmissions(ctx context.Context, w io.Writer, form services.Form, f services.SubmissionFilter, v services.Operator) (int, error)
	StartMPSession(ctx context.Context, appID, openID, unionID string) (string, services.MPSession, error)
	AddMPPhone(ctx context.Context, sess services.MPSession, phone string) (string, services.MPSession, error)
	OpenMPSession(token string) (services.MPSession, error)
}

// SMSCodes sends verification codes.
type SMSCodes interface {
	SendCode(ctx context.Context, phone, purpose string) error
}

// FormDeps are what the registration forms need; Forms nil leaves them out.
type FormDeps struct {
	// BaseURL is the app's public URL: OAuth redirect URIs and shared links
	// are built on it.
	BaseURL     string
	WeChat      WeChatClients
	Forms       FormStore
	Submissions SubmissionStore
	SMS         SMSCodes // nil: no SMS verification
}

// formHandler serves /f/…, the admin form pages and the mini-program API.
type formHandler struct {
	FormDeps
	pending *web.Cookies[oauthPending]
	wx      *web.Cookies[wechatVisitor]
}

// oauthPending binds an OAuth round trip to this browser: the state sent
// to WeChat must come back to the same visitor, once.
type oauthPending struct {
	State string `json:"s"`
	Slug  string `json:"f"`
	Query string `json:"q"` // the form URL's query (attribution, UTM), restored afterwards
	Scope string `json:"c"`
}

// wechatVisitor is the visitor's WeChat identity learnt through OAuth. It
// lives in a signed, encrypted cookie: the page never trusts ids it is sent.
type wechatVisitor struct {
	AppID    string `json:"a,omitempty"`
	OpenID   string `json:"o,omitempty"`
	UnionID  string `json:"u,omitempty"`
	UserInfo bool   `json:"i,omitempty"` // snsapi_userinfo was tried
	Skipped  bool   `json:"k,omitempty"` // the visitor chose to go on without WeChat
}

const (
	oauthCookie     = "ma_fo"
	visitorCookie   = "ma_wx"
	oauthCookieAge  = 10 * time.Minute
	visitorAge      = 12 * time.Hour
	formBodyLimit   = 64 << 10 // a form POST is a few KB; refuse anything bigger
	maxReturnQuery  = 1500
	attributionTTL  = 30 * 24 * time.Hour
	oauthStateBytes = 24
)

// registerForms installs the customer pages, the admin pages under adm and
// the mini-program API.
func registerForms(e *gin.Engine, adm *gin.RouterGroup, d Deps) {
	if d.Forms.Forms == nil {
		return
	}
	h := &formHandler{FormDeps: d.Forms,
		pending: web.NewCookies[oauthPending](d.SessionKey, oauthCookie, oauthCookieAge, d.SecureCookies),
		wx:      web.NewCookies[wechatVisitor](d.SessionKey, visitorCookie, visitorAge, d.SecureCookies)}
	h.BaseURL = strings.TrimRight(h.BaseURL, "/")
	if h.WeChat == nil {
		h.WeChat = FixedWeChat{}
	}
	// 60 at once, then one a second per IP: generous, because a venue's Wi-Fi
	// puts a whole live event behind one address (bursts raise risk flags).
	postLimit := web.NewLimiter(time.Second, 60)
	limited := web.LimitByIP(postLimit, "提交太频繁，请稍后再试")
	e.GET("/f/:slug", h.show)
	e.POST("/f/:slug", limited, h.submit)
	e.POST("/f/:slug/sms", limited, h.sendSMS)
	e.GET("/f/:slug/oauth", h.oauthReturn)
	e.GET("/f/:slug/skip", h.skipWeChat)
	e.GET("/f/:slug/retry", h.retryWeChat)
	e.GET("/f/:slug/done", h.done)
	h.registerAdmin(adm)
	h.registerMP(e, limited)
}

// inWeChat reports the WeChat browser (not WeCom's, which cannot do
// Official Account OAuth).
func inWeChat(c *gin.Context) bool {
	ua := c.GetHeader("User-Agent")
	return strings.Contains(ua, "MicroMessenger") && !strings.Contains(ua, "wxwork")
}

// randomToken returns n random bytes as [A-Za-z0-9] (OAuth's state alphabet).
func randomToken(n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// formQuery keeps the parameters a form URL carries through redirects:
// the attribution token and UTM parameters.
func formQuery(q url.Values) string {
	keep := url.Values{}
	if a := q.Get("a"); a != "" {
		keep.Set("a", a)
	}
	for _, k := range services.UTMKeys {
		if v := q.Get(k); v != "" {
			keep.Set(k, v)
		}
	}
	s := keep.Encode()
	if len(s) > maxReturnQuery {
		return ""
	}
	return s
}

func formPath(slug, suffix, query string) string {
	p := "/f/" + url.PathEscape(slug) + suffix
	if query != "" {
		p += "?" + query
	}
	return p
}
