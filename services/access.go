package services

// Data permission on marketing users, for the sidebar.
//
// An employee sees a person when one of the person's WeCom external
// contacts is followed (wecom_follows, not deleted):
//   - staff: by the employee;
//   - managers: by a member of one of their departments (staff_roles);
//   - admins: always.
// A person the viewer may not see is answered ENOTFOUND, exactly as one that
// does not exist, so guessing ids tells nothing.
//
// The rule is SQL (accessCTE) so that the check rides in the same statement
// as the read it guards: no extra round trip, no read without the check.

// Viewer is the signed-in employee: the corp comes from the connected app,
// the userid from WeCom OAuth, never from the browser.
type Viewer struct {
	CorpID string
	UserID string
}

// accessCTE resolves the person behind an external_userid and decides
// whether the viewer may see them. Parameters: $1 corp id, $2 viewer userid,
// $3 external_userid. It yields a(user_id, role, allowed): no row when the
// external_userid is unknown.
const accessCTE = `WITH t AS (
    SELECT user_id FROM identities
    WHERE kind = 'wecom_external_userid' AND scope = $1 AND key = $3
), v AS (
    SELECT coalesce(r.role, 'staff') AS role, coalesce(r.department_ids, '{}') AS depts
    FROM (SELECT 1) one LEFT JOIN staff_roles r ON r.corp_id = $1 AND r.userid = $2
), a AS (
    SELECT t.user_id, v.role, (v.role = 'admin' OR EXISTS (
        SELECT 1 FROM identities x
        JOIN wecom_follows f ON f.corp_id = $1 AND f.external_userid = x.key AND f.deleted_at IS NULL
        WHERE x.user_id = t.user_id AND x.kind = 'wecom_external_userid' AND x.scope = $1
          AND (f.userid = $2 OR (v.role = 'manager' AND EXISTS (
              SELECT 1 FROM wecom_employees e
              WHERE e.corp_id = $1 AND e.userid = f.userid AND e.departments::bigint[] && v.depts))))) AS allowed
    FROM t CROSS JOIN v
)
`

// access is the row accessCTE yields.
type access struct {
	UserID  int64  `db:"user_id"`
	Role    string `db:"role"`
	Allowed bool   `db:"allowed"`
}

// errNotVisible is what a viewer gets for a person they may not see: the
// same answer as for one that does not exist.
func errNotVisible() error { return Errorf(ENOTFOUND, "客户不存在或你无权查看") }
