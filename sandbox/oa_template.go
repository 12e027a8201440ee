package sandbox

import (
	"encoding/json"
	"net/http"
	"regexp"
	"unicode/utf8"
)

// OATemplate is a template of the account's 我的模板 library
// (template/get_all_private_template).
type OATemplate struct {
	TemplateID      string `json:"template_id"`
	Title           string `json:"title"`
	PrimaryIndustry string `json:"primary_industry"`
	DeputyIndustry  string `json:"deputy_industry"`
	Content         string `json:"content"`
	Example         string `json:"example"`
}

// Template ids of the sandbox account (43 characters like the real ones).
const (
	TemplateActivity = "ngqIpbwh8bUfcSsECmogfXcV14J0tQlEpBO27izEYtY"
	TemplateReminder = "Uy1dCJiFsrlmC3bTnGXqXa0s8eIfvoAAeTf7MiOXsJ4"
	TemplateResult   = "K9sb5vBcqC4EjQG1Dr0Tf3pnH8YxZm2aLwVu6Ns7RoI"
)

// oaTemplates are the account's templates: the post-2023 keyword format
// (thing/time/phrase fields) and one old-style template with first/remark.
var oaTemplates = []OATemplate{
	{TemplateID: TemplateActivity, Title: "活动报名成功通知", PrimaryIndustry: "IT科技", DeputyIndustry: "互联网|电子商务",
		Content: "活动名称：{{thing1.DATA}}\n活动时间：{{time2.DATA}}\n活动地点：{{thing3.DATA}}\n",
		Example: "活动名称：春季新品试驾会\n活动时间：2026年12月1日 14:00\n活动地点：上海市静安区\n"},
	{TemplateID: TemplateReminder, Title: "预约提醒", PrimaryIndustry: "IT科技", DeputyIndustry: "互联网|电子商务",
		Content: "客户姓名：{{thing4.DATA}}\n预约项目：{{thing1.DATA}}\n预约时间：{{time5.DATA}}\n温馨提示：{{thing8.DATA}}\n",
		Example: "客户姓名：王先生\n预约项目：到店试驾\n预约时间：2026年12月1日\n温馨提示：请提前十分钟到店\n"},
	{TemplateID: TemplateResult, Title: "审核结果通知", PrimaryIndustry: "IT科技", DeputyIndustry: "互联网|电子商务",
		Content: "{{first.DATA}}\n审核结果：{{keyword1.DATA}}\n审核时间：{{keyword2.DATA}}\n{{remark.DATA}}",
		Example: "您好，您的报名已审核\n审核结果：通过\n审核时间：2026-12-01\n感谢您的参与"},
}

var templateField = regexp.MustCompile(`\{\{([A-Za-z0-9_]+)\.DATA\}\}`)

func findTemplate(id string) *OATemplate {
	for i := range oaTemplates {
		if oaTemplates[i].TemplateID == id {
			return &oaTemplates[i]
		}
	}
	return nil
}

// oaTemplateList: GET (or POST, as PowerWeChat sends it) /cgi-bin/template/get_all_private_template.
func (s *Sandbox) oaTemplateList(*call) (any, *apiError) {
	return map[string]any{"template_list": oaTemplates}, nil
}

type templateSendRequest struct {
	ToUser      string                     `json:"touser"`
	TemplateID  string                     `json:"template_id"`
	URL         string                     `json:"url"`
	ClientMsgID string                     `json:"client_msg_id"`
	Data        map[string]json.RawMessage `json:"data"`
}

// oaTemplateSend: POST /cgi-bin/message/template/send. Refusals as on the
// real server: 40003 unknown openid, 40037 unknown template, 43004 not a
// follower, 47003 data not matching the template, 45009 over the daily
// limit. client_msg_id dedups (the same msgid, nothing sent twice). The
// outbox records the message; TEMPLATESENDJOBFINISH follows through the
// callback queue.
func (s *Sandbox) oaTemplateSend(c *call) (any, *apiError) {
	var req templateSendRequest
	if aerr := c.decode(&req); aerr != nil {
		return nil, aerr
	}
	if id, ok := s.sentBefore(req.ClientMsgID); ok {
		return map[string]any{"errcode": 0, "errmsg": "ok", "msgid": id}, nil
	}
	p, aerr := s.checkTemplateSend(req)
	if aerr != nil {
		return nil, aerr
	}
	s.w.MsgSeq++
	msgID := 200000000 + s.w.MsgSeq
	s.campaigns().TemplateSentToday++
	s.addOutbox(OutboxTemplate, map[string]any{"touser": req.ToUser, "msgid": msgID, "client_msg_id": req.ClientMsgID,
		"template_id": req.TemplateID}, c.body)
	status := "success"
	if s.campaigns().Blocked[p.OAOpenID] {
		status = "failed:user block"
	}
	s.emitOA(p, "TEMPLATESENDJOBFINISH", num("MsgID", msgID), text("Status", status))
	return map[string]any{"errcode": 0, "errmsg": "ok", "msgid": msgID}, nil
}

func (s *Sandbox) sentBefore(clientMsgID string) (any, bool) {
	if clientMsgID == "" {
		return nil, false
	}
	for _, e := range s.w.Outbox {
		if e.Kind == OutboxTemplate && e.Keys["client_msg_id"] == clientMsgID {
			return e.Keys["msgid"], true
		}
	}
	return nil, false
}

func (s *Sandbox) checkTemplateSend(req templateSendRequest) (*Person, *apiError) {
	p := s.w.byOAOpenID[req.ToUser]
	tpl := findTemplate(req.TemplateID)
	switch {
	case p == nil:
		return nil, apiErr(40003, "invalid openid")
	case tpl == nil:
		return nil, apiErr(40037, "invalid template_id")
	case !p.Subscribed:
		return nil, apiErr(43004, "require subscribe")
	case !dataFits(tpl, req.Data):
		return nil, apiErr(47003, "argument invalid! data.thing1.value invalid")
	}
	c := s.campaigns()
	if day := s.now().Format("2006-01-02"); c.TemplateDay != day {
		c.TemplateDay, c.TemplateSentToday = day, 0
	}
	limit := c.TemplateDailyLimit
	if limit <= 0 {
		limit = 100000
	}
	if c.TemplateSentToday >= limit {
		return nil, apiErr(45009, "reach max api daily quota limit")
	}
	return p, nil
}

// dataFits checks every template field has a value and thing fields keep
// WeChat's 20-character limit.
func dataFits(tpl *OATemplate, data map[string]json.RawMessage) bool {
	for _, m := range templateField.FindAllStringSubmatch(tpl.Content, -1) {
		var v struct {
			Value string `json:"value"`
		}
		raw, ok := data[m[1]]
		if !ok || json.Unmarshal(raw, &v) != nil {
			return false
		}
		if len(m[1]) > 5 && m[1][:5] == "thing" && utf8.RuneCountInString(v.Value) > 20 {
			return false
		}
	}
	return true
}

// TemplateControl sets the daily limit (0 = default) and the openids that
// block template messages (their jobs finish "failed:user block").
type TemplateControl struct {
	DailyLimit *int     `json:"daily_limit,omitempty"`
	Block      []string `json:"block,omitempty"`   // wechat user ids or openids
	Unblock    []string `json:"unblock,omitempty"` // wechat user ids or openids
}

// SetTemplateControl applies c.
func (s *Sandbox) SetTemplateControl(in TemplateControl) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.campaigns()
	if in.DailyLimit != nil {
		c.TemplateDailyLimit = *in.DailyLimit
	}
	if c.Blocked == nil {
		c.Blocked = map[string]bool{}
	}
	for _, list := range []struct {
		refs  []string
		block bool
	}{{in.Block, true}, {in.Unblock, false}} {
		for _, ref := range list.refs {
			p := s.w.person(ref)
			if p == nil {
				return notFound("wechat user %q not found", ref)
			}
			c.Blocked[p.OAOpenID] = list.block
		}
	}
	s.touch()
	return nil
}

// routeOATemplates installs the template controls.
func (s *Sandbox) routeOATemplates(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/oa/templates/control", jsonBody(func(in TemplateControl) (any, error) {
		return okJSON(), s.SetTemplateControl(in)
	}))
	mux.HandleFunc("GET /api/oa/templates", jsonAPI(func(*http.Request) (any, error) { return oaTemplates, nil }))
}
