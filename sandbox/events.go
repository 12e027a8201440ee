package sandbox

import (
	"encoding/xml"
	"strconv"
	"strings"

	"github.com/marketing-assistant/assistant/services/wxcrypto"
)

// xmlField is one element of a callback plaintext; text values are CDATA,
// raw values (numbers, nested items) are written as they are.
type xmlField struct {
	name  string
	value string
	raw   bool
}

func text(name, v string) xmlField { return xmlField{name: name, value: v} }

func num(name string, v int64) xmlField {
	return xmlField{name: name, value: strconv.FormatInt(v, 10), raw: true}
}

// items renders <Name><Item>a</Item>...</Name> (MemChangeList).
func items(name string, vals []string) xmlField {
	var b strings.Builder
	for _, v := range vals {
		b.WriteString("<Item>")
		_ = xml.EscapeText(&b, []byte(v))
		b.WriteString("</Item>")
	}
	return xmlField{name: name, value: b.String(), raw: true}
}

// buildXML renders the plaintext exactly in the field order given.
func buildXML(fields []xmlField) string {
	var b strings.Builder
	b.WriteString("<xml>")
	for _, f := range fields {
		b.WriteString("<" + f.name + ">")
		if f.raw {
			b.WriteString(f.value)
		} else {
			b.WriteString(wxcrypto.CDATA(f.value))
		}
		b.WriteString("</" + f.name + ">")
	}
	b.WriteString("</xml>")
	return b.String()
}

// wecomEvent builds the self-built-app header (ToUserName = corp id,
// FromUserName = sys) followed by ChangeType and the event fields.
func (s *Sandbox) wecomEvent(event, changeType string, fields ...xmlField) string {
	head := []xmlField{
		text("ToUserName", s.opts.Corp.CorpID), text("FromUserName", "sys"), num("CreateTime", s.now().Unix()),
		text("MsgType", "event"), text("Event", event),
	}
	if changeType != "" {
		head = append(head, text("ChangeType", changeType))
	}
	return buildXML(append(head, fields...))
}

// oaEvent builds an OA event (ToUserName = gh_ original id, FromUserName = openid).
func (s *Sandbox) oaEvent(openID, event string, fields ...xmlField) string {
	head := []xmlField{
		text("ToUserName", s.opts.Official.OriginalID), text("FromUserName", openID),
		num("CreateTime", s.now().Unix()), text("MsgType", "event"), text("Event", event),
	}
	return buildXML(append(head, fields...))
}

// emitContactChange sends change_external_contact/<changeType>.
func (s *Sandbox) emitContactChange(changeType, userID, externalUserID string, extra ...xmlField) {
	fields := append([]xmlField{text("UserID", userID), text("ExternalUserID", externalUserID)}, extra...)
	s.enqueueCallback(targetWeCom, "change_external_contact/"+changeType, "",
		s.wecomEvent("change_external_contact", changeType, fields...))
}

// emitChatChange sends change_external_chat/<changeType>.
func (s *Sandbox) emitChatChange(chatID, changeType string, extra ...xmlField) {
	fields := append([]xmlField{text("ChatId", chatID)}, extra...)
	s.enqueueCallback(targetWeCom, "change_external_chat/"+changeType, "",
		s.wecomEvent("change_external_chat", changeType, fields...))
}

// emitTagChange sends change_external_tag/<changeType>.
func (s *Sandbox) emitTagChange(id, tagType, changeType string) {
	fields := []xmlField{text("Id", id)}
	if tagType != "" {
		fields = append(fields, text("TagType", tagType))
	}
	s.enqueueCallback(targetWeCom, "change_external_tag/"+changeType, "",
		s.wecomEvent("change_external_tag", changeType, fields...))
}

// emitContact sends change_contact/<changeType> (members and departments).
func (s *Sandbox) emitContact(changeType string, fields ...xmlField) {
	s.enqueueCallback(targetWeCom, "change_contact/"+changeType, "",
		s.wecomEvent("change_contact", changeType, fields...))
}

// emitOA sends an OA event for the person.
func (s *Sandbox) emitOA(p *Person, event string, fields ...xmlField) {
	s.enqueueCallback(targetOA, event, p.OAOpenID, s.oaEvent(p.OAOpenID, event, fields...))
}
