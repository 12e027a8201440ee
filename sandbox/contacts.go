package sandbox

import (
	"slices"
	"strconv"
	"strings"
)

// employeeBody is the /cgi-bin/user/get answer (gender is a string on the wire).
type employeeBody struct {
	UserID         string `json:"userid"`
	Name           string `json:"name"`
	Department     []int  `json:"department"`
	Order          []int  `json:"order"`
	Position       string `json:"position"`
	Mobile         string `json:"mobile"`
	Gender         string `json:"gender"`
	Email          string `json:"email"`
	IsLeaderInDept []int  `json:"is_leader_in_dept"`
	Avatar         string `json:"avatar"`
	ThumbAvatar    string `json:"thumb_avatar"`
	Status         int    `json:"status"`
	MainDepartment int    `json:"main_department"`
	OpenUserID     string `json:"open_userid"`
}

func (s *Sandbox) employeeBody(e *Employee) employeeBody {
	depts := slices.Clone(e.Department)
	zeros := make([]int, len(depts))
	leader := make([]int, len(depts))
	for i, d := range depts {
		if dept := s.w.deptByID[d]; dept != nil && slices.Contains(dept.Leaders, e.UserID) {
			leader[i] = 1
		}
	}
	main := 1
	if len(depts) > 0 {
		main = depts[0]
	}
	return employeeBody{UserID: e.UserID, Name: e.Name, Department: depts, Order: zeros, Position: e.Position,
		Mobile: e.Mobile, Gender: e.Gender, Email: e.Email, IsLeaderInDept: leader, Avatar: e.Avatar,
		ThumbAvatar: e.Avatar, Status: e.Status, MainDepartment: main, OpenUserID: e.OpenUserID}
}

// wecomUserGet: GET /cgi-bin/user/get?userid=.
func (s *Sandbox) wecomUserGet(c *call) (any, *apiError) {
	id := c.param("userid")
	if id == "" {
		return nil, apiErr(41009, "missing userid")
	}
	e := s.w.employee(id)
	if e == nil {
		return nil, apiErr(60111, "userid not found")
	}
	return struct {
		okBody
		employeeBody
	}{ok(), s.employeeBody(e)}, nil
}

// wecomUserListID: POST /cgi-bin/user/list_id {cursor, limit 1..10000}; one
// row per (user, department). Only the 通讯录同步 (ContactSecret) token may call it: 48002.
func (s *Sandbox) wecomUserListID(c *call) (any, *apiError) {
	if c.tok.Owner != ownerContact {
		return nil, apiErr(48002, "api forbidden: user/list_id needs the contacts-sync secret")
	}
	var req struct {
		Cursor string `json:"cursor"`
		Limit  *int   `json:"limit"`
	}
	if aerr := c.decode(&req); aerr != nil {
		return nil, aerr
	}
	limit := 10000
	if req.Limit != nil {
		limit = *req.Limit
	}
	if limit < 1 || limit > 10000 {
		return nil, errBadParam("limit")
	}
	type row struct {
		UserID     string `json:"userid"`
		Department int    `json:"department"`
	}
	var rows []row
	for _, e := range s.w.Employees {
		for _, d := range e.Department {
			rows = append(rows, row{e.UserID, d})
		}
	}
	offset, aerr := s.decodeCursor(req.Cursor, "list_id", "")
	if aerr != nil {
		return nil, aerr
	}
	from, to, next := s.page("list_id", "", offset, limit, len(rows))
	return struct {
		okBody
		NextCursor string `json:"next_cursor"`
		DeptUser   []row  `json:"dept_user"`
	}{ok(), next, rows[from:to]}, nil
}

// departmentsUnder returns id and its descendants (or every department for id 0).
func (s *Sandbox) departmentsUnder(id int, withChildren bool) map[int]bool {
	out := map[int]bool{}
	if id == 0 {
		for _, d := range s.w.Departments {
			out[d.ID] = true
		}
		return out
	}
	out[id] = true
	for changed := withChildren; changed; {
		changed = false
		for _, d := range s.w.Departments {
			if out[d.ParentID] && !out[d.ID] {
				out[d.ID], changed = true, true
			}
		}
	}
	return out
}

func (s *Sandbox) employeesIn(c *call) ([]*Employee, *apiError) {
	id, err := strconv.Atoi(c.param("department_id"))
	if err != nil || s.w.deptByID[id] == nil {
		return nil, apiErr(60123, "invalid department id")
	}
	depts := s.departmentsUnder(id, c.param("fetch_child") == "1")
	var out []*Employee
	for _, e := range s.w.Employees {
		if slices.ContainsFunc(e.Department, func(d int) bool { return depts[d] }) {
			out = append(out, e)
		}
	}
	return out, nil
}

// wecomUserList: GET /cgi-bin/user/list?department_id=&fetch_child=.
func (s *Sandbox) wecomUserList(c *call) (any, *apiError) {
	emps, aerr := s.employeesIn(c)
	if aerr != nil {
		return nil, aerr
	}
	list := make([]employeeBody, 0, len(emps))
	for _, e := range emps {
		list = append(list, s.employeeBody(e))
	}
	return struct {
		okBody
		UserList []employeeBody `json:"userlist"`
	}{ok(), list}, nil
}

// wecomUserSimpleList: GET /cgi-bin/user/simplelist?department_id=&fetch_child=.
func (s *Sandbox) wecomUserSimpleList(c *call) (any, *apiError) {
	emps, aerr := s.employeesIn(c)
	if aerr != nil {
		return nil, aerr
	}
	type simple struct {
		UserID     string `json:"userid"`
		Name       string `json:"name"`
		Department []int  `json:"department"`
		OpenUserID string `json:"open_userid"`
	}
	list := make([]simple, 0, len(emps))
	for _, e := range emps {
		list = append(list, simple{e.UserID, e.Name, slices.Clone(e.Department), e.OpenUserID})
	}
	return struct {
		okBody
		UserList []simple `json:"userlist"`
	}{ok(), list}, nil
}

// wecomDepartmentList: GET /cgi-bin/department/list?id= (absent or 0 = all).
func (s *Sandbox) wecomDepartmentList(c *call) (any, *apiError) {
	id := 0
	if v := strings.TrimSpace(c.param("id")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || (n != 0 && s.w.deptByID[n] == nil) {
			return nil, apiErr(60123, "invalid department id").with("department", []any{})
		}
		id = n
	}
	keep := s.departmentsUnder(id, true)
	list := []Department{}
	for _, d := range s.w.Departments {
		if keep[d.ID] {
			cp := *d
			cp.Leaders = slices.Clone(d.Leaders)
			if cp.Leaders == nil {
				cp.Leaders = []string{}
			}
			list = append(list, cp)
		}
	}
	return struct {
		okBody
		Department []Department `json:"department"`
	}{ok(), list}, nil
}
