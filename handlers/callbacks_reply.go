package handlers

import (
	"bytes"
	"context"
	"encoding/xml"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/marketing-assistant/assistant/services"
	"github.com/marketing-assistant/assistant/services/wxcrypto"
)

// PassiveReplies finds the reply to an OA QR code scan by its scene.
type PassiveReplies interface {
	ReplyFor(ctx context.Context, scene string) (services.OAReply, bool, error)
}

// scanHead is what a passive reply needs of a scan event.
type scanHead struct {
	ToUserName   string `xml:"ToUserName"`
	FromUserName string `xml:"FromUserName"`
	Event        string `xml:"Event"`
	EventKey     string `xml:"EventKey"`
}

// storeOA files an OA event like store does, then answers a QR code scan
// with the code's reply. The event is committed first, so a reply that
// cannot be built (lookup failed, no such code) only costs the reply: the
// answer is then "success", as for every other event.
func (h *callbackHandler) storeOA(c *gin.Context, conn *services.Connection, plain []byte, encrypted bool) {
	ev, ok := h.accept(c, conn.Settings.CorpID, services.SourceOA, plain)
	if !ok {
		return
	}
	if h.replies != nil && (ev.Event == "subscribe" || ev.Event == "SCAN") {
		if body, ok := h.passiveReply(c, conn, plain, encrypted); ok {
			c.Header("Cache-Control", "no-store")
			c.Data(http.StatusOK, "application/xml; charset=utf-8", body)
			return
		}
	}
	ackSuccess(c)
}

// passiveReply renders (and in safe mode seals) the reply to a scan; ok is
// false when there is nothing to say or it cannot be built.
func (h *callbackHandler) passiveReply(c *gin.Context, conn *services.Connection, plain []byte, encrypted bool) ([]byte, bool) {
	var head scanHead
	if err := xml.Unmarshal(plain, &head); err != nil {
		return nil, false
	}
	scene, ok := services.SceneOf(head.Event, head.EventKey)
	if !ok {
		return nil, false
	}
	r, ok, err := h.replies.ReplyFor(c.Request.Context(), scene)
	if err != nil {
		_ = c.Error(err) // logged by the request logger; the event is stored
		return nil, false
	}
	if !ok {
		return nil, false
	}
	body := renderReply(head, r, time.Now())
	if !encrypted {
		return body, true
	}
	if conn.OACrypter == nil {
		return nil, false
	}
	sealed, err := conn.OACrypter.SealReply(body, strconv.FormatInt(time.Now().Unix(), 10), c.Query("nonce"))
	if err != nil {
		_ = c.Error(err)
		return nil, false
	}
	return sealed, true
}

// renderReply writes the passive reply XML: addressed back to the fan
// (ToUserName and FromUserName swapped), CreateTime in unix seconds.
func renderReply(head scanHead, r services.OAReply, now time.Time) []byte {
	var b bytes.Buffer
	b.WriteString("<xml><ToUserName>" + wxcrypto.CDATA(head.FromUserName) + "</ToUserName>")
	b.WriteString("<FromUserName>" + wxcrypto.CDATA(head.ToUserName) + "</FromUserName>")
	b.WriteString("<CreateTime>" + strconv.FormatInt(now.Unix(), 10) + "</CreateTime>")
	if r.Kind == services.ReplyNews {
		b.WriteString("<MsgType>" + wxcrypto.CDATA("news") + "</MsgType><ArticleCount>1</ArticleCount><Articles><item>")
		b.WriteString("<Title>" + wxcrypto.CDATA(r.Title) + "</Title><Description>" + wxcrypto.CDATA(r.Description) + "</Description>")
		b.WriteString("<PicUrl>" + wxcrypto.CDATA(r.PicURL) + "</PicUrl><Url>" + wxcrypto.CDATA(r.URL) + "</Url>")
		b.WriteString("</item></Articles></xml>")
		return b.Bytes()
	}
	b.WriteString("<MsgType>" + wxcrypto.CDATA("text") + "</MsgType><Content>" + wxcrypto.CDATA(r.Content) + "</Content></xml>")
	return b.Bytes()
}
