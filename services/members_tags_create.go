package services

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"

	"github.com/marketing-assistant/assistant/services/wecom"
)

// CreateLevelTags creates the tag group 会员等级 in WeCom (add_corp_tag) with
// one tag per level that has none, binds each level to its tag, mirrors the
// tags into the library and queues a sync of those levels' members. It
// returns how many tags it created. Admins only.
// Errors: EFORBIDDEN, EINVALID (every level has a tag, or two levels share
// a name), EUNAVAILABLE, *wecom.APIError.
func (s *MemberTagService) CreateLevelTags(ctx context.Context, v Operator) (int, error) {
	if err := v.requireRole(RoleAdmin); err != nil {
		return 0, err
	}
	levels, err := s.untaggedLevels(ctx)
	if err != nil {
		return 0, err
	}
	client, err := s.wechat.WeChat(ctx)
	if err != nil {
		return 0, err
	}
	names := make([]string, len(levels))
	for i, l := range levels {
		names[i] = l.Name
	}
	// One request: WeCom creates the group with the tags, or adds them to
	// the existing group of that name.
	group, err := client.AddCorpTag(ctx, "", LevelTagGroupName, names...)
	if err != nil {
		return 0, err
	}
	err = withTx(ctx, s.db, func(tx *sqlx.Tx) error { return s.bindCreated(ctx, tx, v, levels, group) })
	if err != nil {
		return 0, wrapErr("member tags: create", err)
	}
	s.Wake()
	return len(levels), nil
}

// untaggedLevels are the levels to create tags for. WeCom folds duplicate
// names in one request into one tag, which would put two levels on one tag.
func (s *MemberTagService) untaggedLevels(ctx context.Context) ([]Level, error) {
	var ls []Level
	if err := s.db.SelectContext(ctx, &ls, `SELECT id, name, threshold, corp_tag_id FROM member_levels
WHERE corp_tag_id = '' ORDER BY threshold`); err != nil {
		return nil, fmt.Errorf("member tags: levels: %w", err)
	}
	if len(ls) == 0 {
		return nil, Invalid("每个等级都已绑定标签", map[string]string{"tag": "每个等级都已绑定企业微信标签"})
	}
	seen := map[string]bool{}
	for _, l := range ls {
		if seen[l.Name] {
			return nil, Invalid("等级名称重复", map[string]string{"tag": "等级「" + l.Name + "」重名，请先改名再创建标签"})
		}
		seen[l.Name] = true
	}
	return ls, nil
}

// bindCreated mirrors the new group and tags and binds each level to the
// tag of its name.
func (s *MemberTagService) bindCreated(ctx context.Context, tx *sqlx.Tx, v Operator, levels []Level, g wecom.TagGroup) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO wecom_tag_groups (corp_id, group_id, name, sort_order)
SELECT corp_id, $1, $2, $3 FROM wecom_settings
ON CONFLICT (corp_id, group_id) DO UPDATE SET name = $2, deleted_at = NULL, synced_at = now()`, g.GroupID, g.GroupName, g.Order)
	if err != nil {
		return fmt.Errorf("mirror group: %w", err)
	}
	byName := map[string]wecom.CorpTag{}
	for _, t := range g.Tags {
		byName[t.Name] = t
	}
	for _, l := range levels {
		t, ok := byName[l.Name]
		if !ok {
			return fmt.Errorf("add_corp_tag returned no tag for level %d", l.ID)
		}
		if err := s.bindNewTag(ctx, tx, l, g.GroupID, t); err != nil {
			return err
		}
	}
	return s.audit.recordTx(ctx, tx, v.audit("member_level_tags_created", "wecom_tag_group", g.GroupID,
		map[string]any{"tags": len(levels)}))
}

func (s *MemberTagService) bindNewTag(ctx context.Context, tx *sqlx.Tx, l Level, groupID string, t wecom.CorpTag) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO wecom_tags (corp_id, tag_id, group_id, name, sort_order)
SELECT corp_id, $1, $2, $3, $4 FROM wecom_settings
ON CONFLICT (corp_id, tag_id) DO UPDATE SET group_id = $2, name = $3, deleted_at = NULL, synced_at = now()`,
		t.ID, groupID, t.Name, t.Order)
	if err != nil {
		return fmt.Errorf("mirror tag: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE member_levels SET corp_tag_id = $2 WHERE id = $1`, l.ID, t.ID); err != nil {
		return fmt.Errorf("bind: %w", err)
	}
	return queueLevelSync(ctx, tx, l.ID, "")
}
