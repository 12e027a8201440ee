package handlers

import (
	"context"

	"github.com/marketing-assistant/assistant/services"
	"github.com/marketing-assistant/assistant/services/wecom"
)

// WeChatClients gives the WeCom / Official Account / mini-program client built
// from the settings saved now. Settings can change while the app runs, so
// handlers ask for the client per request instead of holding one. When
// nothing is connected yet it returns an EUNAVAILABLE *services.Error whose
// message tells the admin what to configure.
type WeChatClients interface {
	WeChat(ctx context.Context) (*wecom.Client, error)
}

// FixedWeChat serves one client built once; tests and the sandbox demo use it.
type FixedWeChat struct{ Client *wecom.Client }

// WeChat returns the fixed client, or EUNAVAILABLE when there is none.
func (f FixedWeChat) WeChat(context.Context) (*wecom.Client, error) {
	if f.Client == nil {
		return nil, services.Errorf(services.EUNAVAILABLE, "尚未连接企业微信与公众号，请管理员在设置页完成配置")
	}
	return f.Client, nil
}
