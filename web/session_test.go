package web_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/marketing-assistant/assistant/web"
)

type staff struct {
	UserID string `json:"u"`
	Role   string `json:"r"`
}

func roundTrip(t *testing.T, write func(c *gin.Context), read func(c *gin.Context), cookie *http.Cookie) *http.Cookie {
	t.Helper()
	w := httptest.NewRecorder()
	c, _ := gin.CreateTestContext(w)
	c.Request = httptest.NewRequest(http.MethodGet, "/", nil)
	if cookie != nil {
		c.Request.AddCookie(cookie)
	}
	if write != nil {
		write(c)
	}
	if read != nil {
		read(c)
	}
	cs := w.Result().Cookies()
	if len(cs) == 0 {
		return nil
	}
	return cs[0]
}

func TestCookiesRoundTripAndTampering(t *testing.T) {
	key := []byte(strings.Repeat("k", 32))
	staffCookies := web.NewCookies[staff](key, "ma_staff", time.Hour, true)
	adminCookies := web.NewCookies[staff](key, "ma_admin", time.Hour, true)
	set := roundTrip(t, func(c *gin.Context) {
		if err := staffCookies.Write(c, staff{UserID: "zhangsan", Role: "staff"}); err != nil {
			t.Fatal(err)
		}
	}, nil, nil)
	if !set.HttpOnly || !set.Secure || set.SameSite != http.SameSiteLaxMode || strings.Contains(set.Value, "zhangsan") {
		t.Fatalf("cookie attributes or clear text: %+v", set)
	}
	roundTrip(t, nil, func(c *gin.Context) {
		v, ok := staffCookies.Read(c)
		if !ok || v.UserID != "zhangsan" {
			t.Fatalf("read back %+v %v", v, ok)
		}
	}, set)
	// The same value under another cookie's name does not decode.
	renamed := *set
	renamed.Name = "ma_admin"
	roundTrip(t, nil, func(c *gin.Context) {
		if _, ok := adminCookies.Read(c); ok {
			t.Fatal("a staff cookie was accepted as an admin cookie")
		}
	}, &renamed)
	forged := *set
	forged.Value = set.Value[:len(set.Value)-4] + "AAAA"
	roundTrip(t, nil, func(c *gin.Context) {
		if _, ok := staffCookies.Read(c); ok {
			t.Fatal("a tampered cookie was accepted")
		}
	}, &forged)
	other := web.NewCookies[staff]([]byte(strings.Repeat("x", 32)), "ma_staff", time.Hour, true)
	roundTrip(t, nil, func(c *gin.Context) {
		if _, ok := other.Read(c); ok {
			t.Fatal("a cookie from another key was accepted")
		}
	}, set)
}

func TestCookiesExpire(t *testing.T) {
	key := []byte(strings.Repeat("k", 32))
	short := web.NewCookies[staff](key, "ma_staff", time.Second, false)
	set := roundTrip(t, func(c *gin.Context) { _ = short.Write(c, staff{UserID: "u"}) }, nil, nil)
	time.Sleep(2100 * time.Millisecond)
	roundTrip(t, nil, func(c *gin.Context) {
		if _, ok := short.Read(c); ok {
			t.Fatal("an expired cookie was accepted")
		}
	}, set)
}
