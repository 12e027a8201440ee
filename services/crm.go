package services

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// CRMRecord is a local CRM lead, contact or account made from the sidebar.
// Its PublicID is the key of the crm_* identity that links it to the person.
type CRMRecord struct {
	ID             int64        `db:"id"`
	PublicID       string       `db:"public_id"`
	Kind           IdentityKind `db:"kind"`
	Name           string       `db:"name"`
	Company        string       `db:"company"`
	UserID         int64        `db:"user_id"`
	IdentityID     int64        `db:"identity_id"`
	ExternalUserID string       `db:"external_userid"`
	CreatedBy      string       `db:"created_by"`
	CreatedAt      time.Time    `db:"created_at"`
}

// CRMInput is what "Convert to CRM" sends.
type CRMInput struct {
	Kind    IdentityKind // KindCRMLead, KindCRMContact or KindCRMAccount
	Name    string
	Company string
}

// crmPrefixes name the public ids: MA-L-12 is local lead 12.
var crmPrefixes = map[IdentityKind]string{KindCRMLead: "MA-L-", KindCRMContact: "MA-C-", KindCRMAccount: "MA-A-"}

// CRMLabel is how the sidebar names a CRM kind.
func CRMLabel(k IdentityKind) string {
	switch k {
	case KindCRMLead:
		return "线索"
	case KindCRMContact:
		return "联系人"
	case KindCRMAccount:
		return "客户"
	}
	return string(k)
}

// Validate checks the input. Errors: EINVALID.
func (in *CRMInput) Validate() error {
	in.Name, in.Company = strings.TrimSpace(in.Name), strings.TrimSpace(in.Company)
	bad := map[string]string{}
	if _, ok := crmPrefixes[in.Kind]; !ok {
		bad["kind"] = "只能创建线索、联系人或客户"
	}
	if n := utf8.RuneCountInString(in.Name); n > 100 {
		bad["name"] = "名称最多 100 个字"
	}
	if utf8.RuneCountInString(in.Company) > 100 {
		bad["company"] = "公司名称最多 100 个字"
	}
	if len(bad) > 0 {
		return Invalid("请检查输入", bad)
	}
	return nil
}

const crmGuardQuery = accessCTE + `SELECT a.user_id, a.role, a.allowed,
  EXISTS (SELECT 1 FROM identities i WHERE i.user_id = a.user_id AND i.kind = $4) AS has_kind
FROM a`

// ConvertToCRM makes a local CRM record for the customer and links it to
// them through the identity engine (a crm_* identity keyed by the record's
// public id, with a crm_created moment by the viewer), so the CRM API shows
// it. A person gets one record of each kind. Errors: EINVALID, ENOTFOUND,
// ECONFLICT (already has one).
func (s *SidebarService) ConvertToCRM(ctx context.Context, v Viewer, ext string, in CRMInput) (CRMRecord, error) {
	if err := in.Validate(); err != nil {
		return CRMRecord{}, err
	}
	var g struct {
		access
		HasKind bool `db:"has_kind"`
	}
	if err := s.db.GetContext(ctx, &g, crmGuardQuery, v.CorpID, v.UserID, ext, string(in.Kind)); err != nil {
		return CRMRecord{}, visibleOr(err)
	}
	if !g.Allowed {
		return CRMRecord{}, errNotVisible()
	}
	if g.HasKind {
		return CRMRecord{}, Errorf(ECONFLICT, "该客户已有 CRM %s", CRMLabel(in.Kind))
	}
	var id int64
	if err := s.db.GetContext(ctx, &id, `SELECT nextval('crm_records_id_seq')`); err != nil {
		return CRMRecord{}, fmt.Errorf("crm: id: %w", err)
	}
	rec := CRMRecord{ID: id, PublicID: crmPrefixes[in.Kind] + fmt.Sprint(id), Kind: in.Kind, Name: in.Name,
		Company: in.Company, ExternalUserID: ext, CreatedBy: v.UserID}
	res, err := s.ids.Link(ctx, crmObservation(v, rec))
	if err != nil {
		return CRMRecord{}, err
	}
	rec.UserID, rec.IdentityID = res.UserID, res.IdentityIDs[1]
	err = s.db.GetContext(ctx, &rec.CreatedAt, `INSERT INTO crm_records
    (id, public_id, kind, corp_id, name, company, user_id, identity_id, external_userid, created_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING created_at`,
		rec.ID, rec.PublicID, rec.Kind, v.CorpID, rec.Name, rec.Company, rec.UserID, rec.IdentityID, ext, v.UserID)
	if err != nil {
		return CRMRecord{}, fmt.Errorf("crm: insert: %w", err)
	}
	return rec, nil
}

// crmObservation links the new record's identity to the chat's
// external_userid: the sidebar is the evidence that they are one person.
func crmObservation(v Viewer, rec CRMRecord) Observation {
	title := "创建 CRM " + CRMLabel(rec.Kind)
	if rec.Name != "" {
		title += "「" + rec.Name + "」"
	}
	return Observation{Source: "sidebar", Ref: string(rec.Kind) + ":" + rec.PublicID, Identities: []IdentityInput{
		{Kind: KindExternalUserID, Scope: v.CorpID, Key: rec.ExternalUserID},
		{Kind: rec.Kind, Key: rec.PublicID, Attrs: Attributes{Name: rec.Name, Company: rec.Company, Source: "sidebar"}},
	}, Moments: []MomentInput{{Identity: 1, Kind: "crm_created", Channel: "sidebar", EmployeeUserID: v.UserID,
		Title: title, DedupKey: "crm_created:" + string(rec.Kind) + "::" + rec.PublicID}}}
}
