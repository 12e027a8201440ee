package handlers

import (
	"strconv"
	"strings"
	"time"

	"github.com/marketing-assistant/assistant/services"
	"github.com/marketing-assistant/assistant/views/sidebar"
)

// sidebarTZ is the time zone moments are shown in (the product is used in
// mainland China; the server's own zone is irrelevant to the reader).
var sidebarTZ = time.FixedZone("CST", 8*3600)

// momentFilters are the timeline's filter chips: a key and its kinds.
var momentFilters = []struct {
	key, label string
	kinds      []services.MomentKind
}{
	{"", "全部", nil},
	{"form", "表单", []services.MomentKind{"form_viewed", "form_submitted"}},
	{"material", "素材", []services.MomentKind{"material_sent", "material_opened"}},
	{"oa", "公众号", []services.MomentKind{"oa_subscribed", "oa_unsubscribed", "oa_scanned", "oa_menu_clicked"}},
	{"mp", "小程序", []services.MomentKind{"mp_authorized"}},
	{"wecom", "企微", []services.MomentKind{"wecom_added", "wecom_deleted_by_customer", "wecom_deleted_by_staff", "wecom_tagged", "group_joined", "group_left"}},
	{"crm", "CRM", []services.MomentKind{"crm_created", "crm_converted", "crm_updated", "member_level_changed"}},
}

func filterKinds(key string) []services.MomentKind {
	for _, f := range momentFilters {
		if f.key == key {
			return f.kinds
		}
	}
	return nil
}

func filterChips(ext, active string) []sidebar.FilterChip {
	out := make([]sidebar.FilterChip, 0, len(momentFilters))
	for _, f := range momentFilters {
		key := f.key
		if key == "" {
			key = "all"
		}
		out = append(out, sidebar.FilterChip{Key: key, Label: f.label, URL: timelineURL(ext, f.key, ""), Active: f.key == active})
	}
	return out
}

var momentLabels = map[services.MomentKind]string{
	"form_viewed": "浏览表单", "form_submitted": "提交表单", "material_sent": "发送素材", "material_opened": "打开素材",
	"oa_subscribed": "关注公众号", "oa_unsubscribed": "取消关注公众号", "oa_scanned": "扫描公众号二维码",
	"oa_menu_clicked": "点击公众号菜单", "mp_authorized": "授权小程序", "wecom_added": "添加企业微信",
	"wecom_deleted_by_customer": "删除了员工", "wecom_deleted_by_staff": "被员工删除", "wecom_tagged": "标签变更",
	"group_joined": "加入客户群", "group_left": "退出客户群", "crm_created": "创建 CRM 记录", "crm_converted": "CRM 转化",
	"crm_updated": "CRM 更新", "member_level_changed": "会员等级变更", "identity_merged": "身份合并", "identity_split": "身份拆分",
}

var channelLabels = map[string]string{
	"form": "表单", "oa": "公众号", "mp": "小程序", "wecom": "企业微信", "crm": "CRM", "sidebar": "侧边栏",
	"sync": "同步", "manual": "手工", "web": "网页", "wechat": "微信",
}

var identityLabels = map[services.IdentityKind]string{
	services.KindUnionID: "微信 unionid", services.KindOAOpenID: "公众号粉丝", services.KindMPOpenID: "小程序用户",
	services.KindExternalUserID: "企微客户", services.KindPendingID: "企微待关联客户", services.KindPhone: "手机号",
	services.KindCRMLead: "CRM 线索", services.KindCRMContact: "CRM 联系人", services.KindCRMAccount: "CRM 客户",
	services.KindMember: "会员",
}

func label(m map[string]string, k string) string {
	if l, ok := m[k]; ok {
		return l
	}
	return k
}

// momentVM says what, when, through which channel and by which employee.
func momentVM(m services.SidebarMoment) sidebar.Moment {
	what := momentLabels[m.Kind]
	if what == "" {
		what = string(m.Kind)
	}
	if m.Title != "" {
		what += "：" + m.Title
	}
	emp := m.EmployeeName
	if emp == "" {
		emp = m.EmployeeUserID
	}
	tone := ""
	switch m.Kind {
	case "form_submitted", "crm_created", "crm_converted", "wecom_added":
		tone = "brand"
	case "wecom_deleted_by_customer", "wecom_deleted_by_staff", "oa_unsubscribed":
		tone = "danger"
	}
	return sidebar.Moment{ID: m.ID, What: what, When: m.OccurredAt.In(sidebarTZ).Format("2006-01-02 15:04"),
		Channel: label(channelLabels, m.Channel), Employee: emp, Source: identityLabels[m.IdentityKind], Tone: tone}
}

func timelineVM(ext, key string, tl services.SidebarTimeline) sidebar.TimelineVM {
	vm := sidebar.TimelineVM{Empty: "还没有动态"}
	for _, m := range tl.Moments {
		vm.Moments = append(vm.Moments, momentVM(m))
	}
	if tl.Next != "" {
		vm.NextURL = timelineURL(ext, key, tl.Next)
	}
	return vm
}

// profileVM builds the profile: phones masked, one chip per identity with
// why it is linked, the CRM actions and the first timeline page.
func profileVM(p services.SidebarProfile, key string, materials bool) sidebar.ProfileVM {
	vm := sidebar.ProfileVM{Base: base(p.ExternalUserID), ExternalUserID: p.ExternalUserID, Name: p.Contact.Name,
		Remark: p.Contact.Remark, Avatar: safeAvatar(p.Contact.Avatar), CorpName: p.Contact.CorpName,
		Position: p.Contact.Position, Conflicts: p.OpenConflicts, HasMaterials: materials,
		Filters: filterChips(p.ExternalUserID, key), Timeline: timelineVM(p.ExternalUserID, key, p.Timeline)}
	if vm.Name == "" {
		vm.Name = "未命名客户"
	}
	has := map[services.IdentityKind]bool{}
	for _, i := range p.Identities {
		has[i.Kind] = true
		if i.Kind == services.KindPhone {
			vm.Phones = append(vm.Phones, phoneVM(p, i))
			continue
		}
		vm.Chips = append(vm.Chips, chipVM(p, i))
	}
	for _, f := range p.Followers {
		vm.Followers = appendOnce(vm.Followers, firstOf(f.Name, f.UserID))
	}
	for _, k := range []services.IdentityKind{services.KindCRMLead, services.KindCRMContact, services.KindCRMAccount} {
		vm.CRM = append(vm.CRM, sidebar.CRMAction{Kind: string(k), Label: services.CRMLabel(k), Done: has[k]})
	}
	return vm
}

func phoneVM(p services.SidebarProfile, i services.Identity) sidebar.Phone {
	ph := sidebar.Phone{IdentityID: i.ID, Masked: services.MaskPhone(i.Phone), Verified: i.Verified}
	if p.CanRevealPhone {
		ph.RevealURL = base(p.ExternalUserID) + "/phones/" + strconv.FormatInt(i.ID, 10) + "/reveal"
	}
	return ph
}

func chipVM(p services.SidebarProfile, i services.Identity) sidebar.Chip {
	c := sidebar.Chip{Kind: string(i.Kind), Label: identityLabels[i.Kind], Why: whyLinked(i)}
	switch i.Kind {
	case services.KindExternalUserID:
		c.Tone = "brand"
		var names []string
		for _, f := range p.Followers {
			if f.ExternalUserID == i.Key {
				names = appendOnce(names, firstOf(f.Name, f.UserID))
			}
		}
		if len(names) > 0 {
			c.Label += " · " + strings.Join(names, "、")
		}
	case services.KindCRMLead, services.KindCRMContact, services.KindCRMAccount:
		c.Tone = "info"
		c.Label += " " + i.Key
	case services.KindMember:
		c.Tone = "warn"
		if i.Attrs.MemberLevel != "" {
			c.Label += " · " + i.Attrs.MemberLevel
		}
	}
	return c
}

var sourceLabels = map[string]string{
	"form": "表单", "wecom": "企业微信", "oa": "公众号", "mp": "小程序", "crm": "CRM", "sync": "同步",
	"sidebar": "侧边栏", "manual": "手工关联",
}

// whyLinked is the evidence in words: "2026-05-01 在表单 f:12 中与 unionid
// 一同出现（已验证）".
func whyLinked(i services.Identity) string {
	s := i.FirstSeen.In(sidebarTZ).Format("2006-01-02") + " 在" + label(sourceLabels, i.Evidence.Source)
	if i.Evidence.Ref != "" {
		s += " " + i.Evidence.Ref
	}
	if i.LinkedKind != "" {
		s += " 中与" + label(identityKindNames, i.LinkedKind) + "一同出现"
	} else {
		s += " 中首次出现"
	}
	if i.Kind == services.KindPhone {
		if i.Evidence.Verified {
			s += "（已验证）"
		} else {
			s += "（未验证）"
		}
	}
	return s
}

var identityKindNames = func() map[string]string {
	m := map[string]string{}
	for k, v := range identityLabels {
		m[string(k)] = v
	}
	m[string(services.KindUnionID)] = "同一 unionid"
	return m
}()

// safeAvatar keeps only http(s) avatar URLs (WeCom serves https).
func safeAvatar(u string) string {
	if strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://") {
		return u
	}
	return ""
}

func firstOf(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func appendOnce(ss []string, s string) []string {
	for _, x := range ss {
		if x == s {
			return ss
		}
	}
	return append(ss, s)
}
