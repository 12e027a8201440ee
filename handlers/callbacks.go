package handlers

import (
	"context"
	"errors"
	"io"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/marketing-assistant/assistant/services"
	"github.com/marketing-assistant/assistant/services/wxcrypto"
)

// Connections gives the connection built from the saved settings: the
// callback crypters and the API client.
type Connections interface {
	Current(ctx context.Context) (*services.Connection, error)
}

// CallbackInbox stores verified callbacks.
type CallbackInbox interface {
	Accept(ctx context.Context, e services.InboxEvent) (bool, error)
}

// maxCallbackBytes bounds a callback body: real ones are a few KB.
const maxCallbackBytes = 64 << 10

// callbackHandler receives WeCom and Official Account callbacks. Its POST
// path is the hot path: verify, decrypt, one INSERT, answer "success"; no
// WeChat API call, so WeChat's 5 s limit is never at risk. Anything that
// fails verification is refused and nothing is stored.
type callbackHandler struct {
	conns Connections
	inbox CallbackInbox
	wake  func() // nudges the inbox workers; may be nil
	// replies answers OA QR code scans (callbacks_reply.go); may be nil
	replies PassiveReplies
}

func registerCallbacks(e *gin.Engine, d WeComDeps) {
	if d.Connections == nil || d.Inbox == nil {
		return
	}
	h := &callbackHandler{conns: d.Connections, inbox: d.Inbox, wake: d.WakeInbox, replies: d.OAReplies}
	e.GET("/callbacks/wecom", h.verifyWeCom)
	e.POST("/callbacks/wecom", h.receiveWeCom)
	e.GET("/callbacks/oa", h.verifyOA)
	e.POST("/callbacks/oa", h.receiveOA)
}

// refuse answers a callback that is not accepted. WeChat retries non-200
// answers, which is right for our own failures (database away) and harmless
// for forgeries.
func refuse(c *gin.Context, status int, msg string) {
	c.Header("Cache-Control", "no-store")
	c.String(status, msg)
	c.Abort()
}

func (h *callbackHandler) connection(c *gin.Context) (*services.Connection, bool) {
	conn, err := h.conns.Current(c.Request.Context())
	if err != nil {
		refuse(c, http.StatusServiceUnavailable, "unavailable")
		return nil, false
	}
	return conn, true
}

// verifyWeCom answers WeCom's URL verification with the decrypted echostr.
func (h *callbackHandler) verifyWeCom(c *gin.Context) {
	conn, ok := h.connection(c)
	if !ok {
		return
	}
	if conn.WeComCrypter == nil {
		refuse(c, http.StatusNotFound, "callback not configured")
		return
	}
	plain, err := conn.WeComCrypter.VerifyURL(c.Query("msg_signature"), c.Query("timestamp"), c.Query("nonce"), c.Query("echostr"))
	if err != nil {
		refuse(c, statusOf(err), "verification failed")
		return
	}
	c.Data(http.StatusOK, "text/plain; charset=utf-8", plain)
}

// readBody reads at most maxCallbackBytes; more is refused.
func readBody(c *gin.Context) ([]byte, bool) {
	body, err := io.ReadAll(io.LimitReader(c.Request.Body, maxCallbackBytes+1))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) || len(body) > maxCallbackBytes {
		refuse(c, http.StatusRequestEntityTooLarge, "too large")
		return nil, false
	}
	if err != nil {
		refuse(c, http.StatusBadRequest, "unreadable body")
		return nil, false
	}
	return body, true
}

func (h *callbackHandler) receiveWeCom(c *gin.Context) {
	conn, ok := h.connection(c)
	if !ok {
		return
	}
	if conn.WeComCrypter == nil {
		refuse(c, http.StatusNotFound, "callback not configured")
		return
	}
	body, ok := readBody(c)
	if !ok {
		return
	}
	plain, err := conn.WeComCrypter.OpenEnvelope(c.Query("msg_signature"), c.Query("timestamp"), c.Query("nonce"), body)
	if err != nil {
		refuse(c, statusOf(err), "refused")
		return
	}
	h.store(c, conn.Settings.CorpID, services.SourceWeCom, plain)
}

// store files the decrypted event and answers "success".
func (h *callbackHandler) store(c *gin.Context, corpID, source string, plain []byte) {
	if _, ok := h.accept(c, corpID, source, plain); ok {
		ackSuccess(c)
	}
}

// accept files the decrypted event; when it cannot, it has answered.
func (h *callbackHandler) accept(c *gin.Context, corpID, source string, plain []byte) (services.InboxEvent, bool) {
	ev, err := services.NewInboxEvent(corpID, source, plain)
	if err != nil {
		refuse(c, http.StatusBadRequest, "not a callback message")
		return ev, false
	}
	if _, err := h.inbox.Accept(c.Request.Context(), ev); err != nil {
		_ = c.Error(err)
		refuse(c, http.StatusServiceUnavailable, "try again")
		return ev, false
	}
	if h.wake != nil {
		h.wake()
	}
	return ev, true
}

func ackSuccess(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	c.String(http.StatusOK, "success")
}

// verifyOA answers the Official Account's URL verification: in every mode
// the signature covers token, timestamp and nonce, and echostr is plain.
func (h *callbackHandler) verifyOA(c *gin.Context) {
	conn, ok := h.connection(c)
	if !ok {
		return
	}
	token := conn.Settings.OAToken
	if token == "" {
		refuse(c, http.StatusNotFound, "callback not configured")
		return
	}
	if err := wxcrypto.CheckSignature(c.Query("signature"), token, c.Query("timestamp"), c.Query("nonce")); err != nil {
		refuse(c, http.StatusForbidden, "verification failed")
		return
	}
	c.Data(http.StatusOK, "text/plain; charset=utf-8", []byte(c.Query("echostr")))
}

// receiveOA accepts safe-mode (encrypt_type=aes) bodies when a key is set,
// and plain bodies unless the account is in safe mode.
func (h *callbackHandler) receiveOA(c *gin.Context) {
	conn, ok := h.connection(c)
	if !ok {
		return
	}
	s := conn.Settings
	if s.OAToken == "" || s.OAAppID == "" {
		refuse(c, http.StatusNotFound, "callback not configured")
		return
	}
	body, ok := readBody(c)
	if !ok {
		return
	}
	var plain []byte
	var err error
	switch {
	case c.Query("encrypt_type") == "aes" && conn.OACrypter != nil:
		plain, err = conn.OACrypter.OpenEnvelope(c.Query("msg_signature"), c.Query("timestamp"), c.Query("nonce"), body)
	case c.Query("encrypt_type") == "aes" || s.OAMessageMode == services.OAModeSafe:
		err = wxcrypto.ErrDecrypt // encrypted expected but no key, or plain sent in safe mode
	default:
		err = wxcrypto.CheckSignature(c.Query("signature"), s.OAToken, c.Query("timestamp"), c.Query("nonce"))
		plain = body
	}
	if err != nil {
		refuse(c, statusOf(err), "refused")
		return
	}
	h.storeOA(c, conn, plain, c.Query("encrypt_type") == "aes")
}

// statusOf maps a crypto failure to a status: forged or misaddressed → 403,
// undecryptable or malformed → 400.
func statusOf(err error) int {
	if errors.Is(err, wxcrypto.ErrSignature) || errors.Is(err, wxcrypto.ErrReceiveID) {
		return http.StatusForbidden
	}
	return http.StatusBadRequest
}
