package web

import (
	"crypto/hkdf"
	"crypto/sha256"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/gorilla/securecookie"
)

// Cookies issues and reads one signed and encrypted cookie holding a value of
// type T. Each cookie name gets its own keys (derived from the session key with
// the name as HKDF info), so a cookie of one kind can never be replayed as
// another. The expiry is checked by securecookie's MAC'd timestamp, not by
// anything the browser sends.
type Cookies[T any] struct {
	name   string
	codec  *securecookie.SecureCookie
	maxAge time.Duration
	secure bool
}

// NewCookies returns the codec for the cookie name. secure marks cookies
// Secure (set it when BASE_URL is https).
func NewCookies[T any](sessionKey []byte, name string, maxAge time.Duration, secure bool) *Cookies[T] {
	hashKey := derive(sessionKey, "cookie-hash:"+name, 64)
	blockKey := derive(sessionKey, "cookie-block:"+name, 32)
	codec := securecookie.New(hashKey, blockKey)
	codec.MaxAge(int(maxAge.Seconds()))
	codec.SetSerializer(securecookie.JSONEncoder{})
	return &Cookies[T]{name: name, codec: codec, maxAge: maxAge, secure: secure}
}

func derive(key []byte, info string, n int) []byte {
	k, err := hkdf.Key(sha256.New, key, nil, info, n)
	if err != nil {
		panic(err) // only for lengths HKDF cannot produce
	}
	return k
}

// Read returns the cookie's value; ok is false when it is absent, forged,
// tampered with or expired.
func (s *Cookies[T]) Read(c *gin.Context) (v T, ok bool) {
	raw, err := c.Cookie(s.name)
	if err != nil || raw == "" {
		return v, false
	}
	if err := s.codec.Decode(s.name, raw, &v); err != nil {
		return v, false
	}
	return v, true
}

// Write sets the cookie: HttpOnly, SameSite=Lax (top-level navigations from
// WeCom/WeChat OAuth redirects still carry it), Secure under HTTPS.
func (s *Cookies[T]) Write(c *gin.Context, v T) error {
	enc, err := s.codec.Encode(s.name, v)
	if err != nil {
		return err
	}
	http.SetCookie(c.Writer, &http.Cookie{Name: s.name, Value: enc, Path: "/", MaxAge: int(s.maxAge.Seconds()),
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode})
	return nil
}

// Clear removes the cookie.
func (s *Cookies[T]) Clear(c *gin.Context) {
	http.SetCookie(c.Writer, &http.Cookie{Name: s.name, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode})
}
