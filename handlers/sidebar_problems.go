package handlers

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/marketing-assistant/assistant/services/wecom"
	"github.com/marketing-assistant/assistant/views/sidebar"
)

// Causes of the sidebar's failure screens. The script detects the first
// five in the browser; the server detects the rest.
const (
	causeNotWeCom     = "not_wecom"
	causeSignature    = "signature"
	causeNoPermission = "no_permission"
	causeNotVisible   = "not_visible"
	causeNotInChat    = "not_in_chat"
	causeAPIFailed    = "api_failed"
	causeNotConnected = "not_connected"
	causeSignIn       = "sign_in"
	causeNotMember    = "not_member"
	causeNotFound     = "not_found"
	causeRefused      = "refused"
	causeInternal     = "internal"
)

// problems is the catalogue of failure screens with what to do about each.
var problems = map[string]sidebar.ProblemVM{
	causeNotWeCom: {Title: "请在企业微信中打开", Detail: "营销助手侧边栏需要企业微信客户端提供当前聊天的客户。", Advice: []string{
		"在企业微信手机或电脑客户端中，从与客户聊天窗口右上角的聊天工具栏打开「营销助手」。",
		"管理员：在「客户联系 → 聊天工具 → 聊天工具栏管理」中添加本应用，页面地址为设置页显示的侧边栏地址。",
		"普通浏览器无法获取聊天上下文；演示时请使用沙箱模式。"}},
	causeSignature: {Title: "JS-SDK 签名无效", Retry: true, Detail: "企业微信拒绝了本页的接口签名（常见错误码 40093）。", Advice: []string{
		"页面地址必须以设置中的 BASE_URL 开头（协议、域名、端口一致），且该域名已登记为应用的可信域名。",
		"iOS 客户端按首次打开时的地址签名：关闭侧边栏后从聊天工具栏重新打开。",
		"管理员：核对企业 ID 与应用 AgentId；更换过 Secret 后需重新测试连接。",
		"点击「重新签名并重试」。"}},
	causeNoPermission: {Title: "应用没有客户联系权限", Detail: "无法读取当前聊天的客户。", Advice: []string{
		"管理员：在「客户联系 → 客户 → API」的「可调用接口的应用」中勾选营销助手。",
		"确认你本人已开通客户联系功能（「客户联系 → 权限配置 → 使用范围」）。",
		"修改后约 1 分钟生效，然后重新打开侧边栏。"}},
	causeNotVisible: {Title: "你不在应用的可见范围内", Detail: "企业微信只允许可见范围内的成员使用本应用。", Advice: []string{
		"请管理员在「应用管理 → 营销助手 → 可见范围」中添加你或你所在的部门。",
		"添加后约 1 分钟生效，然后从聊天工具栏重新打开。"}},
	causeNotInChat: {Title: "请在与客户的聊天中打开", Detail: "当前不是客户单聊、客户群或客户详情页，没有可显示的客户。", Advice: []string{
		"打开与外部联系人（客户）的单聊或客户群，从右上角的聊天工具栏进入营销助手。",
		"从客户详情页进入也可以查看该客户。",
		"与同事的内部聊天中侧边栏不显示客户信息。"}},
	causeAPIFailed: {Title: "企业微信接口调用失败", Retry: true, Advice: []string{
		"稍后重试；若持续失败，请把诊断信息截图发给管理员。"}},
	causeNotConnected: {Title: "尚未连接企业微信", Advice: []string{
		"管理员：在设置页填写企业 ID、应用 AgentId 与 Secret，并点击「测试连接」。"}},
	causeSignIn: {Title: "登录失败", Advice: []string{
		"关闭侧边栏后从聊天工具栏重新打开（登录码 5 分钟内有效且只能使用一次）。",
		"若反复出现：管理员检查应用的「网页授权及 JS-SDK」可信域名是否为本站域名。"}},
	causeNotMember: {Title: "仅限企业成员使用", Advice: []string{
		"请使用你的企业微信成员账号打开；外部联系人和个人微信无法使用营销助手。"}},
	causeNotFound: {Title: "看不到这位客户", Advice: []string{
		"只有添加了该客户的员工、其部门负责人和管理员可以查看。",
		"若刚添加客户，请稍后重新打开侧边栏。"}},
	causeRefused:  {Title: "无法完成操作", Advice: []string{"请刷新后重试。"}},
	causeInternal: {Title: "出错了", Advice: []string{"系统繁忙，请稍后再试；若持续出现，请把请求编号发给管理员。"}},
}

// browserProblems are rendered hidden in the shell for the script to show.
var browserProblems = []string{causeNotWeCom, causeSignature, causeNoPermission, causeNotVisible, causeNotInChat, causeAPIFailed}

// problemFor returns the screen of a cause, with detail when given.
func problemFor(cause, detail string) sidebar.ProblemVM {
	p := problems[cause]
	p.Cause = cause
	p.Advice = append([]string(nil), p.Advice...)
	if detail != "" {
		p.Detail = detail
	}
	return p
}

// apiProblem maps a WeCom error to its screen: the permission and
// visibility codes get their own, everything else the advice of the code.
func apiProblem(ae *wecom.APIError) (int, sidebar.ProblemVM) {
	code := strconv.Itoa(ae.Code) + " " + ae.Msg
	var p sidebar.ProblemVM
	status := http.StatusBadGateway
	switch ae.Code {
	case 48002, 48001, 60020:
		p, status = problemFor(causeNoPermission, ""), http.StatusForbidden
	case 60011, 60111, 50001:
		p, status = problemFor(causeNotVisible, ""), http.StatusForbidden
	case 84061, 40096, 40097:
		p, status = problemFor(causeNotFound, "企业微信中没有你与该客户的好友关系。"), http.StatusNotFound
	case 40029, 42003:
		p, status = problemFor(causeSignIn, ""), http.StatusUnauthorized
	default:
		p = problemFor(causeAPIFailed, "接口 "+ae.Op+" 返回错误。")
		if a := ae.Advice(); a != "" {
			p.Advice = append([]string{a}, p.Advice...)
		}
	}
	p.Code = code
	return status, p
}

func asAPIError(err error, target **wecom.APIError) bool { return errors.As(err, target) }
