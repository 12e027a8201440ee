package wecom

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	tests := []struct{ name, in, leak string }{
		{"gettoken url", "GET /cgi-bin/gettoken?corpid=ww1&corpsecret=S3CRET", "S3CRET"},
		{"token query", "POST /cgi-bin/message/send?access_token=TOK123&debug=1", "TOK123"},
		{"oa secret", "GET /cgi-bin/token?appid=wx1&secret=OASECRET&grant_type=client_credential", "OASECRET"},
		{"js code", "GET /sns/jscode2session?js_code=JSCODE9&grant_type=authorization_code", "JSCODE9"},
		{"oauth code", "GET /cgi-bin/auth/getuserinfo?code=CODE77", "CODE77"},
		{"json token", `{"access_token":"TOKJSON","expires_in":7200}`, "TOKJSON"},
		{"json phone", `{"phone_info":{"phoneNumber":"+8613812345678"}}`, "13812345678"},
		{"bare phone", "remark_mobiles 13912345678 end", "13912345678"},
		{"session key", `{"session_key":"SK==","openid":"o1"}`, "SK=="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := redact(tt.in); strings.Contains(got, tt.leak) {
				t.Fatalf("redact(%q) = %q still contains %q", tt.in, got, tt.leak)
			}
		})
	}
	if got := redact("userid=zhangsan&cursor=abc"); got != "userid=zhangsan&cursor=abc" {
		t.Fatalf("redact touched harmless text: %q", got)
	}
}

func TestLogDriverForwardsAtDebugRedacted(t *testing.T) {
	var buf bytes.Buffer
	d := newLogDriver(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	d.WithContext(context.Background()).InfoF("request %s", "/cgi-bin/gettoken?corpsecret=XYZ")
	d.Error("boom", "access_token=ABC")
	out := buf.String()
	if strings.Contains(out, "XYZ") || strings.Contains(out, "ABC") {
		t.Fatalf("secret leaked: %s", out)
	}
	if strings.Count(out, "level=DEBUG") != 2 {
		t.Fatalf("want two DEBUG records, got: %s", out)
	}
}
