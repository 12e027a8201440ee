package sandbox

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// Error is what the Go scenario methods return for bad input; the control
// API maps Status onto the HTTP status.
type Error struct {
	Status  int    `json:"-"`
	Message string `json:"error"`
}

func (e *Error) Error() string { return "sandbox: " + e.Message }

func invalid(format string, a ...any) error {
	return &Error{Status: http.StatusBadRequest, Message: fmt.Sprintf(format, a...)}
}

func notFound(format string, a ...any) error {
	return &Error{Status: http.StatusNotFound, Message: fmt.Sprintf(format, a...)}
}

func conflict(format string, a ...any) error {
	return &Error{Status: http.StatusConflict, Message: fmt.Sprintf(format, a...)}
}

// NewWeChatUser describes a simulated WeChat person.
type NewWeChatUser struct {
	Nickname string `json:"nickname"`
	Phone    string `json:"phone,omitempty"`
	Gender   int    `json:"gender,omitempty"`
}

// WeChatUser is a person's ids across the corp, the OA and the mini program.
type WeChatUser struct {
	ID             string `json:"id"`
	Nickname       string `json:"nickname"`
	Phone          string `json:"phone,omitempty"`
	UnionID        string `json:"unionid"`
	OAOpenID       string `json:"oa_openid"`
	MPOpenID       string `json:"mp_openid"`
	ExternalUserID string `json:"external_userid"`
	Subscribed     bool   `json:"subscribed"`
}

func userOf(p *Person) WeChatUser {
	return WeChatUser{ID: p.ID, Nickname: p.Nickname, Phone: p.Phone, UnionID: p.UnionID, OAOpenID: p.OAOpenID,
		MPOpenID: p.MPOpenID, ExternalUserID: p.ExternalUserID, Subscribed: p.Subscribed}
}

// CreateWeChatUser adds a WeChat person. It fires no callback: a person
// exists before they touch the corp or the OA.
func (s *Sandbox) CreateWeChatUser(in NewWeChatUser) (WeChatUser, error) {
	if strings.TrimSpace(in.Nickname) == "" {
		return WeChatUser{}, invalid("nickname is required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.newPerson(in)
	s.touch()
	return userOf(p), nil
}

// newPerson mints every id of a person; callers hold s.mu.
func (s *Sandbox) newPerson(in NewWeChatUser) *Person {
	w := s.w
	p := &Person{ID: w.newPersonID(), Nickname: in.Nickname, Phone: in.Phone, Gender: in.Gender}
	n := uint64(w.PersonSeq)
	p.UnionID = derive(w.Seed, "unionid", n, "o", 28)
	p.OAOpenID = derive(w.Seed, "oa_openid", n, "o", 28)
	p.MPOpenID = derive(w.Seed, "mp_openid", n, "o", 28)
	p.CorpOpenID = derive(w.Seed, "corp_openid", n, "o", 28)
	p.ExternalUserID = derive(w.Seed, "external_userid", n, "wm", 32)
	p.Avatar = "https://thirdwx.qlogo.cn/mmopen/sandbox/" + p.ID + "/132"
	w.People = append(w.People, p)
	w.indexPerson(p)
	return p
}

// WeChatUser looks a person up by id, unionid, either openid or external_userid.
func (s *Sandbox) WeChatUser(ref string) (WeChatUser, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.w.person(ref)
	if p == nil {
		return WeChatUser{}, notFound("wechat user %q not found", ref)
	}
	return userOf(p), nil
}

// NewDepartment describes a department; ID 0 picks the next free id.
type NewDepartment struct {
	ID       int    `json:"id,omitempty"`
	Name     string `json:"name"`
	ParentID int    `json:"parentid,omitempty"` // default 1 (root)
	Order    int    `json:"order,omitempty"`
}

// CreateDepartment adds a department and fires change_contact/create_party.
func (s *Sandbox) CreateDepartment(in NewDepartment) (Department, error) {
	if in.Name == "" {
		return Department{}, invalid("name is required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d, err := s.addDepartment(in)
	if err != nil {
		return Department{}, err
	}
	s.emitContact("create_party", num("Id", int64(d.ID)), text("Name", d.Name),
		num("ParentId", int64(d.ParentID)), num("Order", int64(d.Order)))
	return *d, nil
}

func (s *Sandbox) addDepartment(in NewDepartment) (*Department, error) {
	if in.ParentID == 0 {
		in.ParentID = 1
	}
	if s.w.deptByID[in.ParentID] == nil {
		return nil, notFound("parent department %d not found", in.ParentID)
	}
	if in.ID == 0 {
		for _, d := range s.w.Departments {
			in.ID = max(in.ID, d.ID)
		}
		in.ID++
	}
	if s.w.deptByID[in.ID] != nil {
		return nil, conflict("department %d exists", in.ID)
	}
	d := &Department{ID: in.ID, Name: in.Name, ParentID: in.ParentID, Order: in.Order, Leaders: []string{}}
	s.w.Departments = append(s.w.Departments, d)
	s.w.deptByID[d.ID] = d
	s.touch()
	return d, nil
}

// NewEmployee describes a WeCom member.
type NewEmployee struct {
	UserID          string `json:"userid"`
	Name            string `json:"name"`
	Department      []int  `json:"department,omitempty"` // default [1]
	Position        string `json:"position,omitempty"`
	Mobile          string `json:"mobile,omitempty"`
	Gender          string `json:"gender,omitempty"`
	Email           string `json:"email,omitempty"`
	CustomerContact *bool  `json:"customer_contact,omitempty"` // default true (客户联系 enabled)
	Leader          bool   `json:"leader,omitempty"`           // leads its first department
}

// validUserID: 1-64 bytes of [0-9a-zA-Z_-@.] (wechat-protocol.md §6).
func validUserID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		ok := c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || strings.ContainsRune("_-@.", c)
		if !ok {
			return false
		}
	}
	return true
}

// CreateEmployee adds a member and fires change_contact/create_user.
func (s *Sandbox) CreateEmployee(in NewEmployee) (Employee, error) {
	if !validUserID(in.UserID) {
		return Employee{}, invalid("userid %q must be 1-64 of [0-9a-zA-Z_-@.]", in.UserID)
	}
	if in.Name == "" {
		return Employee{}, invalid("name is required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, err := s.addEmployee(in)
	if err != nil {
		return Employee{}, err
	}
	s.emitContact("create_user", text("UserID", e.UserID), text("Name", e.Name),
		text("Department", joinInts(e.Department)), num("MainDepartment", int64(e.Department[0])),
		text("Position", e.Position), text("Mobile", e.Mobile), num("Gender", atoi64(e.Gender)),
		text("Email", e.Email), num("Status", int64(e.Status)))
	return *e, nil
}

func (s *Sandbox) addEmployee(in NewEmployee) (*Employee, error) {
	if s.w.employee(in.UserID) != nil {
		return nil, conflict("userid %q exists", in.UserID)
	}
	if len(in.Department) == 0 {
		in.Department = []int{1}
	}
	for _, d := range in.Department {
		if s.w.deptByID[d] == nil {
			return nil, notFound("department %d not found", d)
		}
	}
	if in.Gender == "" {
		in.Gender = "1"
	}
	e := &Employee{UserID: in.UserID, Name: in.Name, Department: slices.Clone(in.Department), Position: in.Position,
		Mobile: in.Mobile, Gender: in.Gender, Email: in.Email, Status: 1,
		CustomerContact: in.CustomerContact == nil || *in.CustomerContact,
		OpenUserID:      derive(s.w.Seed, "open_userid|"+strings.ToLower(in.UserID), 0, "wo", 32),
		Avatar:          "https://wework.qpic.cn/wwhead/sandbox/" + in.UserID + "/0"}
	s.w.Employees = append(s.w.Employees, e)
	s.w.empByID[strings.ToLower(e.UserID)] = e
	if in.Leader {
		d := s.w.deptByID[e.Department[0]]
		d.Leaders = append(d.Leaders, e.UserID)
	}
	s.touch()
	return e, nil
}

// DeleteEmployee removes a member (and their relations) and fires change_contact/delete_user.
func (s *Sandbox) DeleteEmployee(userID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.w.employee(userID)
	if e == nil {
		return notFound("employee %q not found", userID)
	}
	for _, f := range slices.Clone(s.w.followsBy[strings.ToLower(e.UserID)]) {
		s.w.removeFollow(f)
	}
	s.w.Employees = without(s.w.Employees, e)
	delete(s.w.empByID, strings.ToLower(e.UserID))
	s.emitContact("delete_user", text("UserID", e.UserID))
	s.touch()
	return nil
}

// Employees lists the members.
func (s *Sandbox) Employees() []Employee {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Employee, 0, len(s.w.Employees))
	for _, e := range s.w.Employees {
		out = append(out, *e)
	}
	return out
}

func joinInts(v []int) string {
	parts := make([]string, len(v))
	for i, n := range v {
		parts[i] = strconv.Itoa(n)
	}
	return strings.Join(parts, ",")
}

func atoi64(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}
