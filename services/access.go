package services

// Data permission on marketing users, for the sidebar.
//
// An employee sees a person when one of the person's WeCom external
// contacts is followed (wecom_follows, not deleted):
//   - staff: by the employee;
//   - managers: by themselves or a member of one of their departments
//     (staff_roles) or of a department below one of them (managedEmployees);
//   - admins: always.
// The admin console (console_access.go) applies the same rule over marketing
// users instead of one external_userid.
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
          AND (f.userid = $2 OR (v.role = 'manager' AND f.userid IN (` + managedEmployees + `))))) AS allowed
    FROM t CROSS JOIN v
)
`

// managedEmployees is the SQL of the employees who are members of a
// manager's departments or of any department below them: a manager of 销售部
// also manages 销售一组. $1 is the corp id, v.depts the manager's department
// ids (a bigint[] column of a row v the enclosing query provides).
const managedEmployees = `SELECT e.userid FROM wecom_employees e WHERE e.corp_id = $1 AND e.departments::bigint[] && ARRAY(
    WITH RECURSIVE d(id) AS (
        SELECT unnest(v.depts)
        UNION SELECT c.id FROM wecom_departments c JOIN d ON c.parent_id = d.id
        WHERE c.corp_id = $1 AND c.deleted_at IS NULL)
    SELECT id FROM d)`

// access is the row accessCTE yields.
type access struct {
	UserID  int64  `db:"user_id"`
	Role    string `db:"role"`
	Allowed bool   `db:"allowed"`
}

// errNotVisible is what a viewer gets for a person they may not see: the
// same answer as for one that does not exist.
func errNotVisible() error { return Errorf(ENOTFOUND, "客户不存在或你无权查看") }
