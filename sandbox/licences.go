package sandbox

import "strings"

// Interface licences (接口许可, wechat-protocol.md §5). Third-party and
// 代开发 apps need a licence per member: a basic account (基础帐号) for
// OAuth and app messages, an interop account (互通帐号) for everything
// 客户联系. A self-built app is not subject to them, so the mode is "none"
// until a test or the console switches it to "thirdparty"; members are
// licensed unless marked otherwise.

// Licence modes.
const (
	LicenceNone       = "none"
	LicenceThirdParty = "thirdparty"
)

// Licence is a member's accounts; nil on a member means both.
type Licence struct {
	Basic   bool `json:"basic"`
	Interop bool `json:"interop"`
}

// LicenceInput switches the mode and/or sets one member's accounts.
type LicenceInput struct {
	Mode    string `json:"mode,omitempty"` // none or thirdparty
	UserID  string `json:"userid,omitempty"`
	Basic   *bool  `json:"basic,omitempty"`
	Interop *bool  `json:"interop,omitempty"`
}

// SetLicences applies in. An interop account includes a basic one.
func (s *Sandbox) SetLicences(in LicenceInput) error {
	if in.Mode != "" && in.Mode != LicenceNone && in.Mode != LicenceThirdParty {
		return invalid("mode must be none or thirdparty")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var e *Employee
	if in.UserID != "" {
		if e = s.w.employee(in.UserID); e == nil {
			return notFound("employee %q not found", in.UserID)
		}
	}
	if in.Mode != "" {
		s.w.LicenceMode = in.Mode
	}
	if e != nil {
		l := Licence{Basic: true, Interop: true}
		if e.Licence != nil {
			l = *e.Licence
		}
		if in.Basic != nil {
			l.Basic = *in.Basic
		}
		if in.Interop != nil {
			l.Interop = *in.Interop
		}
		l.Basic = l.Basic || l.Interop
		e.Licence = &l
	}
	s.touch()
	return nil
}

// licensed reports whether the member may use basic (interop false) or
// 客户联系 (interop true) APIs. Callers hold s.mu.
func (s *Sandbox) licensed(userID string, interop bool) bool {
	if s.w.LicenceMode != LicenceThirdParty {
		return true
	}
	e := s.w.employee(userID)
	if e == nil || e.Licence == nil {
		return true
	}
	if interop {
		return e.Licence.Interop
	}
	return e.Licence.Basic
}

// errNoInterop is WeCom's answer when no member concerned holds an interop account.
func errNoInterop() *apiError { return apiErr(701008, "没有合法的有互通license的用户") }

// splitLicensed separates app-message receivers without a basic account
// (message/send answers them in unlicenseduser).
func (s *Sandbox) splitLicensed(userIDs []string) (licensed, unlicensed []string) {
	for _, u := range userIDs {
		if s.licensed(u, false) {
			licensed = append(licensed, u)
		} else {
			unlicensed = append(unlicensed, strings.ToLower(u))
		}
	}
	return licensed, unlicensed
}

// licensedFollows keeps the relations of members holding an interop
// account (externalcontact/get leaves the others out of follow_user).
func (s *Sandbox) licensedFollows(follows []*Follow) []*Follow {
	var out []*Follow
	for _, f := range follows {
		if s.licensed(f.UserID, true) {
			out = append(out, f)
		}
	}
	return out
}

// withoutBasicAccount reports whether pick is a member who may not sign in.
func (s *Sandbox) withoutBasicAccount(pick string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.w.employee(pick)
	return e != nil && !s.licensed(e.UserID, false)
}
