package sandbox

import (
	"slices"
	"strings"
)

// Console edits that WeCom reports with "update" and "delete" events:
// members and departments (change_contact), group chats renamed or handed to
// another owner (change_external_chat/update), corp tags renamed
// (change_external_tag/update). Each changes what the APIs answer and
// sends the event WeCom sends, carrying only what changed.

// EmployeeUpdate edits a member; nil or empty fields are left as they are.
type EmployeeUpdate struct {
	UserID     string  `json:"userid"`
	Name       *string `json:"name,omitempty"`
	Department []int   `json:"department,omitempty"`
	Position   *string `json:"position,omitempty"`
	Mobile     *string `json:"mobile,omitempty"`
	Status     int     `json:"status,omitempty"` // 1 active, 2 disabled, 5 left
}

// UpdateEmployee edits a member and fires change_contact/update_user.
func (s *Sandbox) UpdateEmployee(in EmployeeUpdate) (Employee, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.w.employee(in.UserID)
	if e == nil {
		return Employee{}, notFound("employee %q not found", in.UserID)
	}
	for _, d := range in.Department {
		if s.w.deptByID[d] == nil {
			return Employee{}, notFound("department %d not found", d)
		}
	}
	if in.Status != 0 && in.Status != 1 && in.Status != 2 && in.Status != 5 {
		return Employee{}, invalid("status must be 1, 2 or 5")
	}
	fields := []xmlField{text("UserID", e.UserID)}
	if in.Name != nil && *in.Name != "" && *in.Name != e.Name {
		e.Name = *in.Name
		fields = append(fields, text("Name", e.Name))
	}
	if len(in.Department) > 0 && !slices.Equal(in.Department, e.Department) {
		e.Department = slices.Clone(in.Department)
		fields = append(fields, text("Department", joinInts(e.Department)), num("MainDepartment", int64(e.Department[0])))
	}
	if in.Position != nil && *in.Position != e.Position {
		e.Position = *in.Position
		fields = append(fields, text("Position", e.Position))
	}
	if in.Mobile != nil && *in.Mobile != e.Mobile {
		e.Mobile = *in.Mobile
		fields = append(fields, text("Mobile", e.Mobile))
	}
	if in.Status != 0 && in.Status != e.Status {
		e.Status = in.Status
		fields = append(fields, num("Status", int64(e.Status)))
	}
	if len(fields) == 1 {
		return *e, invalid("nothing to change")
	}
	s.emitContact("update_user", fields...)
	s.touch()
	return *e, nil
}

// DepartmentUpdate renames or moves a department.
type DepartmentUpdate struct {
	ID       int     `json:"id"`
	Name     *string `json:"name,omitempty"`
	ParentID int     `json:"parentid,omitempty"`
}

// UpdateDepartment edits a department and fires change_contact/update_party.
func (s *Sandbox) UpdateDepartment(in DepartmentUpdate) (Department, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.w.deptByID[in.ID]
	if d == nil {
		return Department{}, notFound("department %d not found", in.ID)
	}
	fields := []xmlField{num("Id", int64(d.ID))}
	if in.Name != nil && *in.Name != "" && *in.Name != d.Name {
		d.Name = *in.Name
		fields = append(fields, text("Name", d.Name))
	}
	if in.ParentID != 0 && in.ParentID != d.ParentID {
		if s.w.deptByID[in.ParentID] == nil || s.below(in.ParentID, d.ID) {
			return Department{}, invalid("parent %d is missing or below department %d", in.ParentID, d.ID)
		}
		d.ParentID = in.ParentID
		fields = append(fields, num("ParentId", int64(d.ParentID)))
	}
	if len(fields) == 1 {
		return *d, invalid("nothing to change")
	}
	s.emitContact("update_party", fields...)
	s.touch()
	return *d, nil
}

// below reports whether department id is dept or lies below it.
func (s *Sandbox) below(id, dept int) bool {
	for hops := 0; id != 0 && hops < 64; hops++ {
		if id == dept {
			return true
		}
		d := s.w.deptByID[id]
		if d == nil {
			return false
		}
		id = d.ParentID
	}
	return false
}

// DeleteDepartment deletes an empty department (WeCom refuses one with
// sub-departments or members) and fires change_contact/delete_party.
func (s *Sandbox) DeleteDepartment(id int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.w.deptByID[id]
	switch {
	case d == nil:
		return notFound("department %d not found", id)
	case id == 1:
		return invalid("the root department cannot be deleted")
	}
	for _, c := range s.w.Departments {
		if c.ParentID == id {
			return conflict("department %d has sub-departments (errcode 60006)", id)
		}
	}
	for _, e := range s.w.Employees {
		if slices.Contains(e.Department, id) {
			return conflict("department %d has members (errcode 60005)", id)
		}
	}
	s.w.Departments = without(s.w.Departments, d)
	delete(s.w.deptByID, id)
	s.emitContact("delete_party", num("Id", int64(id)))
	s.touch()
	return nil
}

// GroupChatUpdate renames a customer group or hands it to another employee.
type GroupChatUpdate struct {
	ChatID string `json:"chat_id"`
	Name   string `json:"name,omitempty"`
	Owner  string `json:"owner,omitempty"` // an employee's userid
}

// UpdateGroupChat fires change_external_chat/update with UpdateDetail
// change_name or change_owner (one event per change, as WeCom does).
func (s *Sandbox) UpdateGroupChat(in GroupChatUpdate) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, err := s.liveChat(in.ChatID)
	if err != nil {
		return err
	}
	if in.Owner != "" {
		e := s.w.employee(in.Owner)
		if e == nil {
			return notFound("employee %q not found", in.Owner)
		}
		in.Owner = e.UserID
	}
	changed := false
	if in.Name != "" && in.Name != g.Name {
		g.Name, changed = in.Name, true
		s.emitChatChange(g.ChatID, "update", text("UpdateDetail", "change_name"))
	}
	if in.Owner != "" && !strings.EqualFold(in.Owner, g.Owner) {
		g.Owner, changed = in.Owner, true
		s.emitChatChange(g.ChatID, "update", text("UpdateDetail", "change_owner"))
	}
	if !changed {
		return invalid("nothing to change")
	}
	s.touch()
	return nil
}

// RenameCorpTag renames a tag in the console: change_external_tag/update.
func (s *Sandbox) RenameCorpTag(id, name string) (Tag, error) {
	if name == "" {
		return Tag{}, invalid("name is required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.w.tagByID[id]
	if t == nil {
		return Tag{}, notFound("tag %q not found", id)
	}
	t.Name = name
	s.emitTagChange(id, "tag", "update")
	s.touch()
	return *t, nil
}
