package sidebar

import (
	"bytes"
	"context"
	"fmt"
	"html/template"
	"io"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// profileVM is a realistic sidebar profile: 8 identity chips and a first
// timeline page of 20 moments.
func profileVM() ProfileVM {
	vm := ProfileVM{Base: "/sidebar/c/wmAbC123", ExternalUserID: "wmAbC123", Name: "王语嫣 <客户>", Remark: "采购负责人",
		CorpName: "曼陀山庄贸易有限公司", Position: "经理", Followers: []string{"张三", "李四"}, HasMaterials: true,
		Phones: []Phone{{IdentityID: 41, Masked: "139****5678", Verified: true, RevealURL: "/sidebar/c/wmAbC123/phones/41/reveal"}},
		CRM:    []CRMAction{{Kind: "lead", Label: "线索", Done: true}, {Kind: "contact", Label: "联系人"}, {Kind: "account", Label: "客户"}},
	}
	kinds := []string{"oa_openid", "mp_openid", "wecom_external_userid", "unionid", "phone", "crm_lead", "member", "crm_contact"}
	for i, k := range kinds {
		vm.Chips = append(vm.Chips, Chip{Kind: k, Label: "身份 " + k, Tone: []string{"brand", "info", ""}[i%3],
			Why: "2026-05-01 在表单「春季活动报名」中与 unionid 一同出现（未验证）"})
	}
	for _, f := range []string{"all", "forms", "wecom", "oa", "crm"} {
		vm.Filters = append(vm.Filters, FilterChip{Key: f, Label: "筛选 " + f, URL: vm.Base + "/timeline?k=" + f, Active: f == "all"})
	}
	for i := range 20 {
		vm.Timeline.Moments = append(vm.Timeline.Moments, Moment{ID: int64(1000 - i), What: "提交了表单「春季活动报名」",
			When: "2026-11-21 10:" + strconv.Itoa(10+i), Channel: "渠道活码", Employee: "张三", Source: "公众号粉丝", Tone: "brand"})
	}
	vm.Timeline.NextURL = vm.Base + "/timeline?cursor=abc"
	return vm
}

// htmlProfile is the same markup as Profile (with PhoneRow, CRMSection,
// TimelinePanel and TimelineItems) written for html/template, the baseline
// the issue compares templ with.
var htmlProfile = template.Must(template.New("profile").Funcs(template.FuncMap{
	"chipTone": chipTone, "momentTone": momentTone, "joinNames": joinNames,
	"id": func(n int64) string { return strconv.FormatInt(n, 10) },
}).Parse(`<div class="ma-profile" data-testid="profile" data-external-userid="{{.ExternalUserID}}"><div class="ma-identity">` +
	`{{if .Avatar}}<img class="ma-identity__avatar" src="{{.Avatar}}" alt="" referrerpolicy="no-referrer">{{end}}<div>` +
	`<div class="ma-identity__name" data-testid="profile-name">{{.Name}}</div><div class="ma-identity__meta">` +
	`{{if .Remark}}<span data-testid="profile-remark">备注 {{.Remark}}</span>{{end}}` +
	`{{if .CorpName}}<span data-testid="profile-corp">{{.CorpName}}</span>{{end}}{{if .Position}}<span>{{.Position}}</span>{{end}}` +
	`</div></div></div>` +
	`{{range .Phones}}<div class="ma-row ma-sidebar__section" id="phone-{{id .IdentityID}}"><span class="ma-phone" data-testid="phone">{{.Masked}}</span>` +
	`{{if .Verified}}<span class="ma-chip ma-chip--brand">已验证</span>{{else}}<span class="ma-chip">未验证</span>{{end}}` +
	`{{if .RevealURL}}<button type="button" class="ma-btn ma-btn--small" hx-post="{{.RevealURL}}" hx-target="#phone-{{id .IdentityID}}" hx-swap="outerHTML" data-testid="reveal">查看完整号码</button>{{end}}</div>{{end}}` +
	`<div class="ma-chips" data-testid="chips">{{range .Chips}}<span class="ma-chip {{chipTone .Tone}}" data-testid="chip-{{.Kind}}">{{.Label}}</span>{{end}}` +
	`{{if .Conflicts}}<span class="ma-chip ma-chip--danger" data-testid="conflicts">{{.Conflicts}} 个身份冲突待处理</span>{{end}}</div>` +
	`<details class="ma-sidebar__section" data-testid="why"><summary class="ma-sidebar__heading">关联依据</summary><ul class="ma-diagnosis__list">` +
	`{{range .Chips}}<li data-testid="why-{{.Kind}}">{{.Label}}：{{.Why}}</li>{{end}}</ul></details>` +
	`{{if .Followers}}<p class="ma-small ma-muted" data-testid="followers">跟进员工：{{joinNames .Followers}}</p>{{end}}` +
	`<div class="ma-sidebar__section" id="ma-crm" data-testid="crm"><div class="ma-row">{{$base := .Base}}{{range .CRM}}` +
	`{{if .Done}}<span class="ma-chip ma-chip--info" data-testid="crm-done-{{.Kind}}">已有 CRM {{.Label}}</span>{{else}}` +
	`<form hx-post="{{$base}}/crm" hx-target="#ma-crm" hx-swap="outerHTML" method="post" action="{{$base}}/crm">` +
	`<input type="hidden" name="kind" value="{{.Kind}}"><button type="submit" class="ma-btn ma-btn--small" data-testid="crm-create-{{.Kind}}">创建{{.Label}}</button></form>{{end}}{{end}}</div>` +
	`{{if .CRMMessage}}<p class="ma-small" data-testid="crm-message">{{.CRMMessage}}</p>{{end}}{{if .CRMError}}<p class="ma-field-error" data-testid="crm-error">{{.CRMError}}</p>{{end}}</div>` +
	`<div class="ma-tabs" role="tablist"><button type="button" class="ma-tab" role="tab" aria-selected="true" hx-get="{{.Base}}/timeline" hx-target="#ma-tab-panel" data-testid="tab-timeline">动态</button>` +
	`<button type="button" class="ma-tab" role="tab" aria-selected="false" hx-get="{{.Base}}/tags" hx-target="#ma-tab-panel" data-testid="tab-tags">标签</button>` +
	`{{if .HasMaterials}}<button type="button" class="ma-tab" role="tab" aria-selected="false" hx-get="{{.Base}}/materials" hx-target="#ma-tab-panel" data-testid="tab-materials">素材</button>{{end}}</div>` +
	`<div id="ma-tab-panel" role="tabpanel"><div class="ma-chips" data-testid="timeline-filters">{{range .Filters}}` +
	`<button type="button" class="ma-chip{{if .Active}} ma-chip--brand{{end}}" hx-get="{{.URL}}" hx-target="#ma-tab-panel" data-testid="filter-{{.Key}}">{{.Label}}</button>{{end}}</div>` +
	`<ol class="ma-timeline ma-sidebar__section" data-testid="timeline">{{range .Timeline.Moments}}` +
	`<li class="ma-timeline__item {{momentTone .Tone}}" data-testid="moment" data-moment-id="{{id .ID}}"><div class="ma-timeline__time">{{.When}} · {{.Channel}}</div>` +
	`<div class="ma-timeline__title" data-testid="moment-what">{{.What}}</div><div class="ma-small ma-muted">{{if .Employee}}<span data-testid="moment-employee">{{.Employee}}</span> · {{end}}{{.Source}}</div></li>{{end}}` +
	`{{if .Timeline.NextURL}}<li class="ma-timeline__item" hx-get="{{.Timeline.NextURL}}" hx-trigger="revealed" hx-swap="outerHTML" data-testid="timeline-more"><span class="ma-muted ma-small">加载更多…</span></li>` +
	`{{else if not .Timeline.Moments}}<li class="ma-empty" data-testid="timeline-empty">{{.Timeline.Empty}}</li>{{end}}</ol></div></div>`))

// TestRenderBaselineIsTheSamePage keeps the html/template baseline honest:
// same elements, same escaping, about the same size.
func TestRenderBaselineIsTheSamePage(t *testing.T) {
	vm := profileVM()
	var a, b bytes.Buffer
	if err := Profile(vm).Render(context.Background(), &a); err != nil {
		t.Fatal(err)
	}
	if err := htmlProfile.Execute(&b, vm); err != nil {
		t.Fatal(err)
	}
	for _, probe := range []string{`data-testid="moment"`, `data-testid="chip-`, `data-testid="why-`, `data-testid="crm-create-`, "&lt;客户&gt;"} {
		if strings.Count(a.String(), probe) != strings.Count(b.String(), probe) {
			t.Errorf("%q: templ %d, html/template %d", probe, strings.Count(a.String(), probe), strings.Count(b.String(), probe))
		}
	}
	if d := float64(a.Len()-b.Len()) / float64(a.Len()); d > 0.1 || d < -0.1 {
		t.Errorf("sizes differ by %.0f%%: %d vs %d bytes", 100*d, a.Len(), b.Len())
	}
}

// BenchmarkSidebarRender renders the sidebar profile with templ and with
// html/template in alternating rounds and reports the medians and the speedup
// (target ≥ 3.5×).
func BenchmarkSidebarRender(b *testing.B) {
	vm := profileVM()
	ctx := context.Background()
	cmp := Profile(vm)
	round := func(render func() error) float64 {
		const n = 1500
		start := time.Now()
		for range n {
			if err := render(); err != nil {
				b.Fatal(err)
			}
		}
		return float64(time.Since(start).Microseconds()) / n
	}
	viaTempl := func() error { return cmp.Render(ctx, io.Discard) }
	viaHTML := func() error { return htmlProfile.Execute(io.Discard, vm) }
	var ours, base, ratios []float64
	for range 7 {
		o, h := round(viaTempl), round(viaHTML)
		ours, base, ratios = append(ours, o), append(base, h), append(ratios, h/o)
	}
	b.ReportMetric(median(ours), "templ_µs/op")
	b.ReportMetric(median(base), "html_template_µs/op")
	b.ReportMetric(median(ratios), "speedup")
	b.Logf("templ %v µs, html/template %v µs", fmt.Sprint(ours), fmt.Sprint(base))
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
