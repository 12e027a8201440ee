package services

import (
	"context"
	"encoding/csv"
	"io"
	"strconv"
	"strings"
)

// MergePlan is a merge preview as the console shows it: the rule check and
// the identities the survivor would hold. Phones are masked.
type MergePlan struct {
	MergePreview
	SurvivorIdentities, AbsorbedIdentities []Identity
}

// PreviewMerge shows what merging users a and b would do, both of which the
// viewer must see. Errors: EFORBIDDEN, ENOTFOUND, ECONFLICT (already one user).
func (s *ConsoleService) PreviewMerge(ctx context.Context, v Operator, a, b int64) (MergePlan, error) {
	if err := s.checkBoth(ctx, v, a, b); err != nil {
		return MergePlan{}, err
	}
	p, err := s.ids.PreviewMerge(ctx, a, b)
	if err != nil {
		return MergePlan{}, err
	}
	plan := MergePlan{MergePreview: p}
	if plan.SurvivorIdentities, err = s.maskedIdentities(ctx, p.Survivor); err != nil {
		return plan, err
	}
	plan.AbsorbedIdentities, err = s.maskedIdentities(ctx, p.Absorbed)
	return plan, err
}

func (s *ConsoleService) checkBoth(ctx context.Context, v Operator, a, b int64) error {
	if err := s.check(ctx, v, a); err != nil {
		return err
	}
	return canSee(ctx, s.db, v, b)
}

func (s *ConsoleService) maskedIdentities(ctx context.Context, userID int64) ([]Identity, error) {
	ids, err := s.ids.Identities(ctx, userID)
	for i := range ids {
		if ids[i].Phone != "" {
			ids[i].Phone = MaskPhone(ids[i].Phone)
		}
	}
	return ids, err
}

// Merge merges users a and b by hand and audits it.
// Errors: EFORBIDDEN, ENOTFOUND, ECONFLICT (same user, a rule would break).
func (s *ConsoleService) Merge(ctx context.Context, v Operator, a, b int64, reason string) (MergeResult, error) {
	if err := s.checkBoth(ctx, v, a, b); err != nil {
		return MergeResult{}, err
	}
	r, err := s.ids.Merge(ctx, a, b, strings.TrimSpace(reason), v.Actor())
	if err != nil {
		return r, err
	}
	err = s.audit.Record(ctx, v.audit("users_merged", "marketing_user", strconv.FormatInt(r.Survivor, 10),
		map[string]any{"absorbed": r.Absorbed, "merge_log_id": r.LogID}))
	return r, err
}

// Split moves the chosen identities of a user into a new user and audits it.
// Errors: EFORBIDDEN, ENOTFOUND, EINVALID.
func (s *ConsoleService) Split(ctx context.Context, v Operator, userID int64, identityIDs []int64, reason string) (SplitResult, error) {
	if err := s.check(ctx, v, userID); err != nil {
		return SplitResult{}, err
	}
	r, err := s.ids.Split(ctx, userID, identityIDs, strings.TrimSpace(reason), v.Actor())
	if err != nil {
		return r, err
	}
	err = s.audit.Record(ctx, v.audit("user_split", "marketing_user", strconv.FormatInt(r.UserID, 10),
		map[string]any{"new_user": r.NewUserID, "moved": r.Moved, "merge_log_id": r.LogID}))
	return r, err
}

// Conflicts lists conflicts by status ("" all, default open), newest first;
// managers see those involving a user in their scope.
// Errors: EFORBIDDEN.
func (s *ConsoleService) Conflicts(ctx context.Context, v Operator, status string) ([]Conflict, error) {
	if err := v.requireRole(RoleAdmin, RoleManager); err != nil {
		return nil, err
	}
	cs, err := s.ids.Conflicts(ctx, ConflictFilter{Status: status, Limit: 200})
	if err != nil || v.IsAdmin() {
		return cs, err
	}
	out := cs[:0]
	for _, c := range cs {
		if canSee(ctx, s.db, v, c.UserA) == nil || canSee(ctx, s.db, v, c.UserB) == nil {
			out = append(out, c)
		}
	}
	return out, nil
}

// ResolveConflict merges or dismisses a conflict whose two users the operator
// sees, and audits it. Errors: EFORBIDDEN, EINVALID, ENOTFOUND, ECONFLICT.
func (s *ConsoleService) ResolveConflict(ctx context.Context, v Operator, id int64, resolution string) error {
	if err := v.requireRole(RoleAdmin, RoleManager); err != nil {
		return err
	}
	var c Conflict
	if err := s.db.GetContext(ctx, &c, `SELECT id, user_a, user_b FROM identity_conflicts WHERE id = $1`, id); err != nil {
		return notFound(err, "冲突")
	}
	if err := s.checkBoth(ctx, v, c.UserA, c.UserB); err != nil {
		return Errorf(ENOTFOUND, "冲突不存在")
	}
	if err := s.ids.ResolveConflict(ctx, id, resolution, v.Actor()); err != nil {
		return err
	}
	return s.audit.Record(ctx, v.audit("conflict_resolved", "conflict", strconv.FormatInt(id, 10),
		map[string]any{"resolution": resolution, "users": []int64{c.UserA, c.UserB}}))
}

// maxExportRows bounds one export.
const maxExportRows = 10000

// ExportUsers writes the users matching f as CSV (phones masked: an export
// leaves the system, so it never carries a full number) and writes one
// audit row. Errors: EFORBIDDEN, EINVALID.
func (s *ConsoleService) ExportUsers(ctx context.Context, v Operator, f UserFilter, w io.Writer) (int, error) {
	if err := v.requireRole(RoleAdmin, RoleManager); err != nil {
		return 0, err
	}
	f.normalize()
	f.After = 0
	rows, err := s.selectUsers(ctx, v, f, maxExportRows)
	if err != nil {
		return 0, err
	}
	detail := map[string]any{"rows": len(rows), "filter": exportFilterDetail(f)}
	if err := s.audit.Record(ctx, v.audit("users_exported", "marketing_users", "", detail)); err != nil {
		return 0, err
	}
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"id", "name", "phone", "identities", "kinds", "created_at", "last_active"})
	for _, r := range rows {
		last := ""
		if r.LastActive != nil {
			last = r.LastActive.Format("2006-01-02 15:04")
		}
		_ = cw.Write([]string{strconv.FormatInt(r.ID, 10), csvSafe(r.Name), r.Phone, strconv.Itoa(r.NIdentities),
			r.Kinds, r.CreatedAt.Format("2006-01-02 15:04"), last})
	}
	cw.Flush()
	return len(rows), cw.Error()
}

// exportFilterDetail records which filters an export used, never their
// personal values (a phone or name searched for stays out of the log).
func exportFilterDetail(f UserFilter) map[string]any {
	return map[string]any{"phone": f.Phone != "", "name": f.Name != "", "tag": f.Tag, "channel": f.Channel,
		"kind": string(f.Kind), "archived": f.WithArchived}
}

// csvSafe keeps a cell from being read as a formula by spreadsheet programs.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
