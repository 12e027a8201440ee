package sandbox

import (
	"slices"
	"strings"
)

// AddCustomerInput is a customer adding an employee in the WeCom client
// (scanning a 「联系我」 code, searching a phone number…).
type AddCustomerInput struct {
	WeChatUser     string   `json:"wechat_user"` // person id, unionid, openid or external_userid
	EmployeeUserID string   `json:"employee_userid"`
	State          string   `json:"state,omitempty"`     // 「联系我」 state, the channel key
	ConfigID       string   `json:"config_id,omitempty"` // a contact way: its state and first user apply
	RemarkMobiles  []string `json:"remark_mobiles,omitempty"`
	AddWay         int      `json:"add_way,omitempty"`         // default 1 (scan QR)
	NoWelcomeCode  bool     `json:"no_welcome_code,omitempty"` // e.g. a console-configured welcome message
	// Half: the customer added the employee without verification and the
	// employee has not added them back: add_half_external_contact.
	Half bool `json:"half,omitempty"`
}

// AddCustomerResult is what the add_external_contact event carried.
type AddCustomerResult struct {
	ExternalUserID string `json:"external_userid"`
	WelcomeCode    string `json:"welcome_code,omitempty"`
	CallbackID     int64  `json:"callback_id"`
}

// AddCustomer creates the relation and fires change_external_contact /
// add_external_contact with State and a 20-second single-use WelcomeCode.
func (s *Sandbox) AddCustomer(in AddCustomerInput) (AddCustomerResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.applyContactWay(&in); err != nil {
		return AddCustomerResult{}, err
	}
	p, e, err := s.personAndEmployee(in.WeChatUser, in.EmployeeUserID)
	if err != nil {
		return AddCustomerResult{}, err
	}
	if !e.CustomerContact {
		return AddCustomerResult{}, invalid("employee %q has no 客户联系 permission", e.UserID)
	}
	if f := s.w.follow(e.UserID, p.ExternalUserID); f != nil && !f.CustomerDeleted {
		return AddCustomerResult{}, conflict("%s is already a customer of %s", p.ExternalUserID, e.UserID)
	} else if f != nil {
		s.w.removeFollow(f) // re-adding after del_follow_user starts a new relation
	}
	s.addFollow(p, e, in)
	res := AddCustomerResult{ExternalUserID: p.ExternalUserID}
	extra := []xmlField{}
	if in.State != "" {
		extra = append(extra, text("State", in.State))
	}
	if !in.NoWelcomeCode {
		res.WelcomeCode = s.mintWelcome(e.UserID, p.ExternalUserID)
		extra = append(extra, text("WelcomeCode", res.WelcomeCode))
	}
	change := "add_external_contact"
	if in.Half {
		change = "add_half_external_contact"
	}
	if !s.licensed(e.UserID, true) {
		return res, nil // WeCom sends no add event for a member without an interop account
	}
	s.emitContactChange(change, e.UserID, p.ExternalUserID, extra...)
	res.CallbackID = s.w.Callbacks[len(s.w.Callbacks)-1].ID
	return res, nil
}

func (s *Sandbox) applyContactWay(in *AddCustomerInput) error {
	if in.ConfigID == "" {
		return nil
	}
	w := s.w.wayByID[in.ConfigID]
	if w == nil {
		return notFound("contact way %q not found", in.ConfigID)
	}
	if in.State == "" {
		in.State = w.State
	}
	if in.EmployeeUserID == "" && len(w.User) > 0 {
		in.EmployeeUserID = w.User[0]
	}
	return nil
}

func (s *Sandbox) personAndEmployee(person, userID string) (*Person, *Employee, error) {
	p := s.w.person(person)
	if p == nil {
		return nil, nil, notFound("wechat user %q not found", person)
	}
	e := s.w.employee(userID)
	if e == nil {
		return nil, nil, notFound("employee %q not found", userID)
	}
	return p, e, nil
}

// addFollow stores a new relation; callers hold s.mu.
func (s *Sandbox) addFollow(p *Person, e *Employee, in AddCustomerInput) *Follow {
	addWay := in.AddWay
	if addWay == 0 {
		addWay = 1
	}
	f := &Follow{UserID: e.UserID, ExternalUserID: p.ExternalUserID, CreateTime: s.now().Unix(),
		RemarkMobiles: slices.Clone(in.RemarkMobiles), OperUserID: p.ExternalUserID, AddWay: addWay, State: in.State}
	s.w.Follows = append(s.w.Follows, f)
	s.w.indexFollow(f)
	s.touch()
	return f
}

// DeleteCustomerInput removes a relation: by "employee" (the member deletes
// the customer: del_external_contact, relation gone) or by "customer" (the
// customer deletes the member: del_follow_user, relation stays readable).
type DeleteCustomerInput struct {
	ExternalUserID string `json:"external_userid"`
	EmployeeUserID string `json:"employee_userid"`
	By             string `json:"by"`
}

// DeleteCustomer applies a deletion and fires its event.
func (s *Sandbox) DeleteCustomer(in DeleteCustomerInput) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.w.follow(in.EmployeeUserID, in.ExternalUserID)
	if f == nil {
		return notFound("no relation between %s and %s", in.EmployeeUserID, in.ExternalUserID)
	}
	switch in.By {
	case "employee":
		s.w.removeFollow(f)
		s.emitContactChange("del_external_contact", f.UserID, f.ExternalUserID)
	case "customer":
		if f.CustomerDeleted {
			return conflict("the customer already deleted %s", f.UserID)
		}
		f.CustomerDeleted = true
		s.emitContactChange("del_follow_user", f.UserID, f.ExternalUserID)
	default:
		return invalid(`by must be "customer" or "employee"`)
	}
	s.touch()
	return nil
}

// EditCustomerInput is a member editing remark / description / tags in the
// client (fires edit_external_contact; remark_mobiles alone does not).
type EditCustomerInput struct {
	ExternalUserID string   `json:"external_userid"`
	EmployeeUserID string   `json:"employee_userid"`
	Remark         *string  `json:"remark,omitempty"`
	Description    *string  `json:"description,omitempty"`
	RemarkMobiles  []string `json:"remark_mobiles,omitempty"`
	AddTags        []string `json:"add_tags,omitempty"`
	RemoveTags     []string `json:"remove_tags,omitempty"`
}

// EditCustomer applies a client-side edit.
func (s *Sandbox) EditCustomer(in EditCustomerInput) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.w.follow(in.EmployeeUserID, in.ExternalUserID)
	if f == nil {
		return notFound("no relation between %s and %s", in.EmployeeUserID, in.ExternalUserID)
	}
	for _, id := range append(slices.Clone(in.AddTags), in.RemoveTags...) {
		if s.w.tagByID[id] == nil {
			return notFound("tag %q not found", id)
		}
	}
	visible := in.Remark != nil || in.Description != nil || len(in.AddTags)+len(in.RemoveTags) > 0
	if in.Remark != nil {
		f.Remark = *in.Remark
	}
	if in.Description != nil {
		f.Description = *in.Description
	}
	if in.RemarkMobiles != nil {
		f.RemarkMobiles = slices.Clone(in.RemarkMobiles)
	}
	for _, id := range in.AddTags {
		if !slices.Contains(f.TagIDs, id) {
			f.TagIDs = append(f.TagIDs, id)
		}
	}
	f.TagIDs = slices.DeleteFunc(f.TagIDs, func(id string) bool { return slices.Contains(in.RemoveTags, id) })
	if visible {
		s.emitContactChange("edit_external_contact", f.UserID, f.ExternalUserID)
	}
	s.touch()
	return nil
}

// TransferCustomerInput is 在职继承: the customer moves from one member to
// another, or the takeover fails (FailReason customer_refused / customer_limit_exceed).
type TransferCustomerInput struct {
	ExternalUserID string `json:"external_userid"`
	From           string `json:"from"`
	To             string `json:"to"`
	FailReason     string `json:"fail_reason,omitempty"`
}

// TransferCustomer fires transfer_fail, or del_external_contact with Source
// DELETE_BY_TRANSFER for the old member plus add_external_contact for the new one.
func (s *Sandbox) TransferCustomer(in TransferCustomerInput) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.w.follow(in.From, in.ExternalUserID)
	if f == nil {
		return notFound("no relation between %s and %s", in.From, in.ExternalUserID)
	}
	p, to, err := s.personAndEmployee(in.ExternalUserID, in.To)
	if err != nil {
		return err
	}
	if in.FailReason != "" {
		s.emitContactChange("transfer_fail", to.UserID, p.ExternalUserID, text("FailReason", in.FailReason))
		return nil
	}
	if s.w.follow(to.UserID, p.ExternalUserID) != nil {
		return conflict("%s already follows %s", to.UserID, p.ExternalUserID)
	}
	s.w.removeFollow(f)
	s.emitContactChange("del_external_contact", f.UserID, f.ExternalUserID, text("Source", "DELETE_BY_TRANSFER"))
	nf := s.addFollow(p, to, AddCustomerInput{State: f.State, AddWay: 202})
	nf.Remark, nf.Description, nf.TagIDs, nf.OperUserID = f.Remark, f.Description, slices.Clone(f.TagIDs), in.From
	s.emitContactChange("add_external_contact", to.UserID, p.ExternalUserID)
	return nil
}

// Customer is a customer with its relations, for the console and tests.
type Customer struct {
	WeChatUser
	Follows []Follow `json:"follow_user"`
}

// Customers lists customers of an employee ("" = all), at most limit (0 = 100).
func (s *Sandbox) Customers(employeeUserID string, limit int) []Customer {
	if limit <= 0 {
		limit = 100
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[string]bool{}
	var out []Customer
	src := s.w.Follows
	if employeeUserID != "" {
		src = s.w.followsBy[strings.ToLower(employeeUserID)]
	}
	for _, f := range src {
		if seen[f.ExternalUserID] || len(out) >= limit {
			continue
		}
		seen[f.ExternalUserID] = true
		c := Customer{WeChatUser: userOf(s.w.byExt[f.ExternalUserID])}
		for _, g := range s.w.followsOf[f.ExternalUserID] {
			c.Follows = append(c.Follows, *g)
		}
		out = append(out, c)
	}
	return out
}
