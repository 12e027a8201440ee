package services

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"

	"github.com/lib/pq"
)

// SidebarTagGroup is a group of corp tags with the viewer's relation marked.
type SidebarTagGroup struct {
	ID, Name string
	Tags     []SidebarTag
}

// SidebarTag is one corp tag; On when the relation carries it.
type SidebarTag struct {
	ID, Name string
	On       bool
}

// relationQuery guards a tag request and reads the viewer's own relation
// with the customer: corp tags are set on a relation (mark_tag), not on the
// person.
const relationQuery = accessCTE + `SELECT a.user_id, a.role, a.allowed,
  (SELECT id FROM identities WHERE kind = 'wecom_external_userid' AND scope = $1 AND key = $3) AS identity_id,
  f.tag_ids IS NOT NULL AS follows, coalesce(f.tag_ids, '{}') AS tag_ids
FROM a LEFT JOIN wecom_follows f
  ON f.corp_id = $1 AND f.userid = $2 AND f.external_userid = $3 AND f.deleted_at IS NULL`

type relationRow struct {
	access
	IdentityID int64          `db:"identity_id"`
	Follows    bool           `db:"follows"`
	TagIDs     pq.StringArray `db:"tag_ids"`
}

// relation returns the guard row. Errors: ENOTFOUND, EFORBIDDEN (the viewer
// sees the customer but has no relation with them).
func (s *SidebarService) relation(ctx context.Context, v Viewer, ext string) (relationRow, error) {
	r, err := s.relationOrVisible(ctx, v, ext)
	if err != nil {
		return r, err
	}
	if !r.Follows {
		return r, Errorf(EFORBIDDEN, "标签记在你与客户的好友关系上：只有添加了该客户的员工可以打标签")
	}
	return r, nil
}

// Tags returns the corp tag library by group with the viewer's relation's
// tags marked. The library comes from the mirror, or from WeCom when it was
// never synced. Errors: ENOTFOUND, EFORBIDDEN, *wecom.APIError.
func (s *SidebarService) Tags(ctx context.Context, v Viewer, ext string, api SidebarWeCom) ([]SidebarTagGroup, error) {
	r, err := s.relation(ctx, v, ext)
	if err != nil {
		return nil, err
	}
	groups, err := s.tagLibrary(ctx, v.CorpID, api)
	if err != nil {
		return nil, err
	}
	markTags(groups, r.TagIDs)
	return groups, nil
}

func markTags(groups []SidebarTagGroup, on []string) {
	for g := range groups {
		for t := range groups[g].Tags {
			groups[g].Tags[t].On = slices.Contains(on, groups[g].Tags[t].ID)
		}
	}
}

// tagLibrary reads the corp tags from the mirror, falling back to WeCom.
func (s *SidebarService) tagLibrary(ctx context.Context, corpID string, api SidebarWeCom) ([]SidebarTagGroup, error) {
	var raw []byte
	err := s.db.GetContext(ctx, &raw, `SELECT coalesce(json_agg(json_build_object('ID', g.group_id, 'Name', g.name,
    'Tags', (SELECT coalesce(json_agg(json_build_object('ID', t.tag_id, 'Name', t.name) ORDER BY t.sort_order DESC, t.tag_id), '[]')
             FROM wecom_tags t WHERE t.corp_id = g.corp_id AND t.group_id = g.group_id AND t.deleted_at IS NULL))
    ORDER BY g.sort_order DESC, g.group_id), '[]')
FROM wecom_tag_groups g WHERE g.corp_id = $1 AND g.deleted_at IS NULL`, corpID)
	if err != nil {
		return nil, fmt.Errorf("sidebar: tags: %w", err)
	}
	var groups []SidebarTagGroup
	if err := json.Unmarshal(raw, &groups); err != nil {
		return nil, fmt.Errorf("sidebar: tags: %w", err)
	}
	if len(groups) > 0 {
		return groups, nil
	}
	live, err := api.CorpTags(ctx, nil, nil)
	if err != nil {
		return nil, err
	}
	sort.SliceStable(live, func(i, j int) bool { return live[i].Order > live[j].Order })
	for _, g := range live {
		sg := SidebarTagGroup{ID: g.GroupID, Name: g.GroupName}
		for _, t := range g.Tags {
			sg.Tags = append(sg.Tags, SidebarTag{ID: t.ID, Name: t.Name})
		}
		groups = append(groups, sg)
	}
	return groups, nil
}

// ToggleTag marks (on) or unmarks the corp tag on the viewer's relation
// through mark_tag, keeps the mirror in step (WeCom sends no callback for
// API changes) and records a wecom_tagged moment. It returns the library as
// it is now. Errors: ENOTFOUND (customer or tag), EFORBIDDEN,
// *wecom.APIError (shown to the employee, never swallowed).
func (s *SidebarService) ToggleTag(ctx context.Context, v Viewer, ext, tagID string, on bool, api SidebarWeCom) ([]SidebarTagGroup, error) {
	r, err := s.relation(ctx, v, ext)
	if err != nil {
		return nil, err
	}
	groups, err := s.tagLibrary(ctx, v.CorpID, api)
	if err != nil {
		return nil, err
	}
	name := tagName(groups, tagID)
	if name == "" {
		return nil, Errorf(ENOTFOUND, "标签不存在，可能已被删除，请刷新")
	}
	add, remove := []string{tagID}, []string(nil)
	if !on {
		add, remove = nil, add
	}
	if err := api.MarkTag(ctx, v.UserID, ext, add, remove); err != nil {
		return nil, err
	}
	tags, err := s.saveRelationTag(ctx, v, ext, tagID, on)
	if err != nil {
		return nil, err
	}
	if err := s.recordTagMoment(ctx, v, r.IdentityID, tagID, name, on); err != nil {
		return nil, err
	}
	markTags(groups, tags)
	return groups, nil
}

func tagName(groups []SidebarTagGroup, id string) string {
	for _, g := range groups {
		for _, t := range g.Tags {
			if t.ID == id {
				return t.Name
			}
		}
	}
	return ""
}

func (s *SidebarService) saveRelationTag(ctx context.Context, v Viewer, ext, tagID string, on bool) ([]string, error) {
	var tags pq.StringArray
	err := s.db.GetContext(ctx, &tags, `UPDATE wecom_follows SET
    tag_ids = CASE WHEN $5 THEN array_append(array_remove(tag_ids, $4), $4) ELSE array_remove(tag_ids, $4) END,
    updated_at = now()
WHERE corp_id = $1 AND userid = $2 AND external_userid = $3 RETURNING tag_ids`, v.CorpID, v.UserID, ext, tagID, on)
	if err != nil {
		return nil, fmt.Errorf("sidebar: save tag: %w", err)
	}
	return tags, nil
}

func (s *SidebarService) recordTagMoment(ctx context.Context, v Viewer, identityID int64, tagID, name string, on bool) error {
	title, action := "添加标签「"+name+"」", "add"
	if !on {
		title, action = "移除标签「"+name+"」", "remove"
	}
	detail, _ := json.Marshal(map[string]string{"tag_id": tagID, "action": action})
	_, err := s.ids.RecordMoments(ctx, []MomentRecord{{IdentityID: identityID, MomentInput: MomentInput{
		Kind: "wecom_tagged", Channel: "sidebar", EmployeeUserID: v.UserID, Title: title, Detail: detail}}})
	return err
}

// relationOrVisible is the guard row for actions any viewer who sees the
// customer may take (no relation needed). Errors: ENOTFOUND.
func (s *SidebarService) relationOrVisible(ctx context.Context, v Viewer, ext string) (relationRow, error) {
	var r relationRow
	if err := s.db.GetContext(ctx, &r, relationQuery, v.CorpID, v.UserID, ext); err != nil {
		return r, visibleOr(err)
	}
	if !r.Allowed {
		return r, errNotVisible()
	}
	return r, nil
}
