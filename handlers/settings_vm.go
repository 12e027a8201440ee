package handlers

import (
	"strconv"

	"github.com/marketing-assistant/assistant/services"
	"github.com/marketing-assistant/assistant/views/settings"
)

// secretNames are the secret form fields, in the services' order.
var secretNames = []string{"agent_secret", "contact_secret", "contacts_sync_secret", "callback_token",
	"callback_aes_key", "oa_secret", "oa_token", "oa_aes_key", "mp_secret"}

var appNames = map[string]string{services.AppWeCom: "企业微信", services.AppOA: "公众号", services.AppMP: "小程序"}

// settingsVM builds the page from the saved settings (secrets only as
// set/unset) and the overrides of in.
func settingsVM(v services.SettingsView, base string, in pageInput) settings.SettingsVM {
	val := func(name, saved string) string {
		if t, ok := in.typed[name]; ok {
			return t
		}
		return saved
	}
	agent := ""
	if v.AgentID != 0 {
		agent = strconv.Itoa(v.AgentID)
	}
	plain := func(name, label, hint, saved string) settings.Field {
		return settings.Field{Name: name, Label: label, Hint: hint, Value: val(name, saved), Error: in.errors[name]}
	}
	secret := func(name, label, hint string, gen, clearable bool) settings.Field {
		return settings.Field{Name: name, Label: label, Hint: hint, Secret: true, Set: v.SecretSet[name],
			Value: in.generated[name], Error: in.errors[name], Generate: gen, Clearable: clearable}
	}
	choice := func(name, label, saved string, opts ...string) settings.Field {
		f := settings.Field{Name: name, Label: label, Error: in.errors[name]}
		cur := val(name, saved)
		for i := 0; i+1 < len(opts); i += 2 {
			f.Options = append(f.Options, settings.Option{Value: opts[i], Label: opts[i+1], Selected: opts[i] == cur})
		}
		return f
	}
	vm := settings.SettingsVM{Flash: in.flash, FlashKind: in.kind, Sandbox: v.Sandbox, UpdatedAt: v.UpdatedAt, UpdatedBy: v.UpdatedBy}
	vm.Sections = []settings.Section{
		{Title: "企业微信", TestApp: services.AppWeCom, Desc: "在企业微信管理后台「我的企业」与「应用管理 → 营销助手」中获取。", Fields: []settings.Field{
			plain("corp_id", "企业ID (CorpID)", "「我的企业」页面底部", v.CorpID),
			choice("app_mode", "应用类型", v.AppMode, services.AppModeSelfBuilt, "自建应用", services.AppModeOnBehalf, "代开发应用（unionid 通过 idconvert / pending_id 获取）"),
			plain("agent_id", "AgentId", "应用详情页", agent),
			secret("agent_secret", "应用 Secret", "应用详情页；也用于客户联系（未单独填写客户联系 Secret 时）", false, false),
			secret("contact_secret", "客户联系 Secret", "「客户联系 → API」中的 Secret，可选", false, true),
			secret("contacts_sync_secret", "通讯录同步 Secret", "「管理工具 → 通讯录同步」，可选；读取成员列表需要", false, true),
			secret("callback_token", "回调 Token", "应用「接收消息」设置中的 Token", true, false),
			secret("callback_aes_key", "回调 EncodingAESKey", "应用「接收消息」设置中的 EncodingAESKey（43 位）", true, false),
		}},
		{Title: "公众号", TestApp: services.AppOA, Desc: "公众号后台「设置与开发 → 基本配置」。公众号与小程序需绑定到同一个微信开放平台账号，unionid 才能打通。", Fields: []settings.Field{
			plain("oa_app_id", "AppID", "", v.OAAppID),
			secret("oa_secret", "AppSecret", "", false, true),
			secret("oa_token", "服务器 Token", "「服务器配置」中的令牌 (Token)", true, true),
			secret("oa_aes_key", "EncodingAESKey", "「服务器配置」中的消息加解密密钥", true, true),
			choice("oa_message_mode", "消息加解密方式", v.OAMessageMode, services.OAModeSafe, "安全模式（推荐）", services.OAModeCompat, "兼容模式", services.OAModePlain, "明文模式"),
		}},
		{Title: "小程序", TestApp: services.AppMP, Desc: "小程序后台「开发管理 → 开发设置」。", Fields: []settings.Field{
			plain("mp_app_id", "AppID", "", v.MPAppID),
			secret("mp_secret", "AppSecret", "", false, true),
		}},
	}
	vm.Paste, vm.Notes = pasteItems(base)
	for _, r := range in.results {
		vm.Results = append(vm.Results, settings.TestResult{App: r.App, Title: appNames[r.App], OK: r.OK, Code: r.Code,
			Message: r.Message, Advice: r.Advice})
	}
	return vm
}

func pasteItems(base string) ([]settings.PasteItem, []string) {
	items := []settings.PasteItem{
		{Label: "企业微信回调 URL", Value: base + "/callbacks/wecom", TestID: "paste-wecom-callback",
			Where: "应用管理 → 营销助手 → 接收消息 → 设置API接收（同时填入上面的 Token 与 EncodingAESKey）；客户联系 → API → 接收事件服务器"},
		{Label: "公众号服务器地址 (URL)", Value: base + "/callbacks/oa", TestID: "paste-oa-callback",
			Where: "公众号后台 → 设置与开发 → 基本配置 → 服务器配置"},
		{Label: "侧边栏页面 URL", Value: base + "/sidebar", TestID: "paste-sidebar",
			Where: "客户联系 → 聊天工具栏管理 → 配置应用页面（选择营销助手，页面地址填此 URL）"},
		{Label: "网页授权可信域名", Value: pasteHost(base), TestID: "paste-domain",
			Where: "应用详情 → 网页授权及JS-SDK → 可信域名；公众号 → 设置与开发 → 公众号设置 → 功能设置 → 网页授权域名（需上传校验文件）"},
	}
	notes := []string{
		"企业可信IP：在应用详情页「企业可信IP」中添加本服务器访问企业微信时的出口公网 IP，否则接口会返回 60020。",
		"公众号 IP 白名单：在「基本配置」中把同一出口 IP 加入白名单，否则获取 access_token 会失败。",
	}
	return items, notes
}
