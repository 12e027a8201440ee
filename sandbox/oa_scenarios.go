package sandbox

import (
	"strconv"
)

// OAEventInput is a WeChat person acting on the Official Account; Scene is a
// QR scene value (scene_id or scene_str) or a ticket from qrcode/create.
type OAEventInput struct {
	WeChatUser string `json:"wechat_user"`
	Scene      string `json:"scene,omitempty"`
}

// Subscribe follows the OA: subscribe (with EventKey qrscene_<scene> and
// Ticket when a scene is given). A fan scanning again gets Scan semantics.
func (s *Sandbox) Subscribe(in OAEventInput) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.w.person(in.WeChatUser)
	if p == nil {
		return notFound("wechat user %q not found", in.WeChatUser)
	}
	if p.Subscribed {
		if in.Scene == "" {
			return conflict("%s already follows the official account", p.ID)
		}
		return s.scanLocked(p, in.Scene)
	}
	s.subscribeLocked(p, in.Scene)
	return nil
}

func (s *Sandbox) subscribeLocked(p *Person, scene string) {
	p.Subscribed, p.SubscribeTime = true, s.now().Unix()
	p.SubscribeScene, p.QRScene, p.QRSceneStr = "ADD_SCENE_SEARCH", 0, ""
	s.w.fans = append(s.w.fans, p)
	s.touch()
	if scene == "" {
		s.emitOA(p, "subscribe")
		return
	}
	value, ticket := s.resolveScene(scene)
	p.SubscribeScene = "ADD_SCENE_QR_CODE"
	if id, err := strconv.ParseInt(value, 10, 64); err == nil {
		p.QRScene = id
	} else {
		p.QRSceneStr = value
	}
	s.emitOA(p, "subscribe", text("EventKey", "qrscene_"+value), text("Ticket", ticket))
}

// Unsubscribe unfollows the OA.
func (s *Sandbox) Unsubscribe(in OAEventInput) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.w.person(in.WeChatUser)
	if p == nil {
		return notFound("wechat user %q not found", in.WeChatUser)
	}
	if !p.Subscribed {
		return conflict("%s does not follow the official account", p.ID)
	}
	p.Subscribed, p.SubscribeTime = false, 0
	s.w.fans = without(s.w.fans, p)
	s.emitOA(p, "unsubscribe")
	s.touch()
	return nil
}

// Scan is a person scanning a parametric QR code: SCAN with the bare scene
// for a fan, subscribe with qrscene_<scene> for anyone else.
func (s *Sandbox) Scan(in OAEventInput) error {
	if in.Scene == "" {
		return invalid("scene is required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.w.person(in.WeChatUser)
	if p == nil {
		return notFound("wechat user %q not found", in.WeChatUser)
	}
	if !p.Subscribed {
		s.subscribeLocked(p, in.Scene)
		return nil
	}
	return s.scanLocked(p, in.Scene)
}

func (s *Sandbox) scanLocked(p *Person, scene string) error {
	value, ticket := s.resolveScene(scene)
	s.emitOA(p, "SCAN", text("EventKey", value), text("Ticket", ticket))
	return nil
}

// resolveScene accepts a ticket or a scene value and returns both.
func (s *Sandbox) resolveScene(scene string) (value, ticket string) {
	if q := s.w.QRCodes[scene]; q != nil {
		return q.scene(), q.Ticket
	}
	for _, q := range s.w.QRCodes {
		if q.scene() == scene {
			return scene, q.Ticket
		}
	}
	return scene, derive(s.w.Seed, "qrticket|"+scene, 0, "gQ", 96)
}

func (q *QRCode) scene() string {
	if q.SceneStr != "" {
		return q.SceneStr
	}
	return strconv.FormatInt(q.SceneID, 10)
}

// MPLoginCode is wx.login() in the mini program: a single-use js_code for jscode2session.
func (s *Sandbox) MPLoginCode(wechatUser string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.w.person(wechatUser)
	if p == nil {
		return "", notFound("wechat user %q not found", wechatUser)
	}
	p.MPUser = true
	return s.newCode("mp_login", p.ID, false, ""), nil
}

// MPPhoneCode is the <button open-type="getPhoneNumber"> code for getuserphonenumber.
func (s *Sandbox) MPPhoneCode(wechatUser string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.w.person(wechatUser)
	if p == nil {
		return "", notFound("wechat user %q not found", wechatUser)
	}
	if p.Phone == "" {
		return "", invalid("wechat user %s has no phone number", p.ID)
	}
	return s.newCode("mp_phone", p.ID, false, ""), nil
}
