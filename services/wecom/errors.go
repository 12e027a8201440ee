package wecom

import (
	"errors"
	"fmt"
)

// APIError is a business error answered by WeCom, the Official Account or
// the mini program: HTTP 200 with a non-zero errcode. The SDK returns these as
// successful calls (err == nil); the adapter turns every one into *APIError.
// Transport and decoding failures are plain wrapped errors instead.
type APIError struct {
	Code int
	Msg  string
	// Op names the adapter call, e.g. "externalcontact/get".
	Op string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("wecom: %s: errcode %d: %s", e.Op, e.Code, e.Msg)
}

// Advice tells an administrator what to do about the error, in plain words
// for the settings page. It returns "" for codes without a known remedy.
func (e *APIError) Advice() string {
	switch e.Code {
	case 40013:
		return "企业ID (CorpID) 不正确：请在企业微信管理后台「我的企业」页面底部复制企业ID。"
	case 40001:
		return "Secret 不正确或应用已停用：请在「应用管理」中重新查看并复制该应用的 Secret。"
	case 60020:
		return "服务器 IP 不在应用的「企业可信IP」列表中：请在应用详情页添加本服务器的出口 IP（约 1 分钟后生效）。"
	case 48002:
		return "该 API 未授权给此应用：请在「客户联系 → 可调用接口的应用」或通讯录同步设置中授权本应用。"
	case 41001, 40014, 42001:
		return "access_token 缺失、无效或已过期：系统会自动刷新；若持续出现，请检查 Secret 是否被重置。"
	case 45009, 45033:
		return "调用频率或并发超过企业微信限制：请稍后重试，并降低同步频率。"
	case -1:
		return "企业微信系统繁忙：请稍后重试。"
	case 701008:
		return "相关成员没有互通帐号（接口许可）：代开发和第三方应用调用客户联系接口需要为成员激活互通帐号，请在企业微信管理后台「应用管理 → 接口许可」中为其激活。"
	case 701099, 701016:
		return "成员没有有效的接口许可或许可已过期：请在企业微信管理后台「应用管理 → 接口许可」中为其激活或续期。"
	}
	return ""
}

// IsAPIError reports whether err is an *APIError with one of codes (any code
// if none given).
func IsAPIError(err error, codes ...int) bool {
	var ae *APIError
	if !errors.As(err, &ae) {
		return false
	}
	if len(codes) == 0 {
		return true
	}
	for _, c := range codes {
		if ae.Code == c {
			return true
		}
	}
	return false
}

// check turns the result of an SDK call into the adapter's error: a Go error
// from the SDK (transport, decoding) is wrapped; a non-zero errcode becomes
// *APIError.
func check(op string, err error, code int, msg string) error {
	if err != nil {
		return fmt.Errorf("wecom: %s: %w", op, err)
	}
	if code != 0 {
		return &APIError{Code: code, Msg: msg, Op: op}
	}
	return nil
}
