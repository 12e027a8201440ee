package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/marketing-assistant/assistant/services"
	"github.com/marketing-assistant/assistant/web"
)

// maxBatch is the most records one POST /api/v1/identities links.
const maxBatch = 1000

// crmRecord is one record of a CRM push; each is one observation.
type crmRecord struct {
	Kind          string     `json:"kind"`
	ID            string     `json:"id"`
	Source        string     `json:"source"` // member ids: the issuing system (scope)
	Phone         string     `json:"phone"`
	PhoneVerified bool       `json:"phone_verified"`
	UnionID       string     `json:"unionid"`
	Name          string     `json:"name"`
	Company       string     `json:"company"`
	MemberLevel   string     `json:"member_level"`
	OccurredAt    *time.Time `json:"occurred_at"`
}

// recordResult is the answer for one record.
type recordResult struct {
	Index           int               `json:"index"`
	Status          string            `json:"status"` // linked or rejected
	MarketingUserID int64             `json:"marketing_user_id,omitempty"`
	Outcome         string            `json:"outcome,omitempty"` // created, attached, merged, conflict
	Blocked         []string          `json:"blocked,omitempty"` // fields ignored as blocked values
	Code            string            `json:"code,omitempty"`
	Reason          string            `json:"reason,omitempty"`
	Fields          map[string]string `json:"fields,omitempty"`
}

type batchAnswer struct {
	Accepted int            `json:"accepted"`
	Rejected int            `json:"rejected"`
	Results  []recordResult `json:"results"`
}

var crmKinds = map[string]services.IdentityKind{"crm_lead": services.KindCRMLead,
	"crm_contact": services.KindCRMContact, "crm_account": services.KindCRMAccount, "member": services.KindMember}

// pushIdentities links a batch of CRM records, answering per record.
func (h *apiHandler) pushIdentities(c *gin.Context) {
	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		web.Fail(c, err)
		return
	}
	key, idem := apiKeyOf(c), c.GetHeader("Idempotency-Key")
	if idem != "" {
		prior, err := h.keys.BeginIdempotent(c.Request.Context(), key.ID, idem, body)
		if err != nil {
			web.Fail(c, err)
			return
		}
		if prior != nil {
			c.Header("Idempotent-Replayed", "true")
			c.Data(prior.Status, "application/json", prior.Body)
			return
		}
	}
	status, answer, err := h.linkBatch(c, body)
	if err != nil {
		if idem != "" {
			_ = h.keys.AbandonIdempotent(c.Request.Context(), key.ID, idem)
		}
		web.Fail(c, err)
		return
	}
	out, _ := json.Marshal(answer)
	if idem != "" {
		if err := h.keys.FinishIdempotent(c.Request.Context(), key.ID, idem, services.IdempotentAnswer{Status: status, Body: out}); err != nil {
			web.Logger(c).Error("idempotency: store answer", "err", err)
		}
	}
	c.Data(status, "application/json", out)
}

// linkBatch decodes the envelope and links each record; only a body that is
// not a JSON batch at all fails as a whole.
func (h *apiHandler) linkBatch(c *gin.Context, body []byte) (int, batchAnswer, error) {
	raws, err := decodeBatch(body)
	if err != nil {
		return 0, batchAnswer{}, err
	}
	ans := batchAnswer{Results: make([]recordResult, len(raws))}
	for i, raw := range raws {
		r := recordResult{Index: i}
		if i >= maxBatch {
			r.Status, r.Code, r.Reason = "rejected", services.ETOOLARGE, fmt.Sprintf("批量上限 %d 条，超出部分未处理", maxBatch)
		} else if o, err := observationOf(raw); err != nil {
			r = rejected(i, err)
		} else if res, err := h.ids.Link(c.Request.Context(), o); err != nil {
			if services.ErrorCode(err) == services.EINTERNAL {
				return 0, batchAnswer{}, err
			}
			r = rejected(i, err)
		} else {
			r.Status, r.MarketingUserID, r.Outcome = "linked", res.UserID, res.Outcome
			for _, p := range res.Blocked {
				r.Blocked = append(r.Blocked, blockedField(o.Identities[p].Kind))
			}
		}
		if r.Status == "linked" {
			ans.Accepted++
		} else {
			ans.Rejected++
		}
		ans.Results[i] = r
	}
	return http.StatusOK, ans, nil
}

func rejected(i int, err error) recordResult {
	return recordResult{Index: i, Status: "rejected", Code: services.ErrorCode(err),
		Reason: services.ErrorMessage(err), Fields: services.ErrorFields(err)}
}

func blockedField(k services.IdentityKind) string {
	switch k {
	case services.KindPhone, services.KindUnionID:
		return string(k)
	}
	return "id"
}

// decodeBatch accepts {"records":[...]} or a bare array; records stay raw so
// that one malformed record is rejected alone.
func decodeBatch(body []byte) ([]json.RawMessage, error) {
	body = bytes.TrimSpace(body)
	var raws []json.RawMessage
	if len(body) > 0 && body[0] == '[' {
		if err := json.Unmarshal(body, &raws); err != nil {
			return nil, services.Invalid("请求体不是 JSON 数组", nil)
		}
		return raws, nil
	}
	var env struct {
		Records []json.RawMessage `json:"records"`
	}
	if err := json.Unmarshal(body, &env); err != nil || env.Records == nil {
		return nil, services.Invalid(`请求体应为 {"records":[...]}`, map[string]string{"records": "缺少 records 数组"})
	}
	return env.Records, nil
}

// observationOf turns one raw record into an observation.
func observationOf(raw json.RawMessage) (services.Observation, error) {
	var r crmRecord
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return services.Observation{}, services.Invalid("记录不是有效的 JSON 对象："+jsonReason(err), map[string]string{"record": "格式错误"})
	}
	kind, ok := crmKinds[r.Kind]
	if !ok {
		return services.Observation{}, services.Invalid("未知的记录类型", map[string]string{"kind": "应为 crm_lead、crm_contact、crm_account 或 member"})
	}
	if strings.TrimSpace(r.ID) == "" {
		return services.Observation{}, services.Invalid("缺少记录 id", map[string]string{"id": "必填"})
	}
	scope := ""
	if kind == services.KindMember {
		scope = strings.TrimSpace(r.Source)
	}
	o := services.Observation{Source: "crm", Ref: r.Kind + ":" + r.ID, Identities: []services.IdentityInput{{Kind: kind, Scope: scope, Key: r.ID,
		Attrs: services.Attributes{Name: r.Name, Company: r.Company, MemberLevel: r.MemberLevel, Source: "crm"}}}}
	if r.OccurredAt != nil {
		o.OccurredAt = *r.OccurredAt
	}
	if r.Phone != "" {
		o.Identities = append(o.Identities, services.IdentityInput{Kind: services.KindPhone, Key: r.Phone, Verified: r.PhoneVerified})
	}
	if r.UnionID != "" {
		o.Identities = append(o.Identities, services.IdentityInput{Kind: services.KindUnionID, Key: r.UnionID})
	}
	o.Moments = append(o.Moments, services.MomentInput{Identity: 0, Kind: "crm_created", Channel: "crm",
		Title: r.Name, DedupKey: "crm_created:" + r.Kind + ":" + scope + ":" + r.ID})
	if r.MemberLevel != "" {
		o.Moments = append(o.Moments, services.MomentInput{Identity: 0, Kind: "member_level_changed", Channel: "crm",
			Title: r.MemberLevel, DedupKey: "member_level:" + r.Kind + ":" + scope + ":" + r.ID + ":" + r.MemberLevel})
	}
	return o, nil
}

func jsonReason(err error) string {
	var ute *json.UnmarshalTypeError
	if errors.As(err, &ute) {
		return "字段 " + ute.Field + " 类型错误"
	}
	if strings.Contains(err.Error(), "unknown field") {
		return "未知字段 " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	}
	return "格式错误"
}
