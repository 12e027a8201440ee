package wxcrypto

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
)

// MaxEnvelopeBytes bounds a callback body; real envelopes are a few KB, so
// anything near this is an attack or a bug.
const MaxEnvelopeBytes = 1 << 20

// Envelope is the encrypted callback body:
// <xml><ToUserName/><Encrypt/><AgentID/></xml>. AgentID is only present for
// app-related WeCom callbacks; the OA sends ToUserName = gh_ original id.
type Envelope struct {
	ToUserName string
	Encrypt    string
	AgentID    string
}

type envelopeXML struct {
	XMLName    xml.Name `xml:"xml"`
	ToUserName string   `xml:"ToUserName"`
	Encrypt    string   `xml:"Encrypt"`
	AgentID    string   `xml:"AgentID"`
}

// ParseEnvelope reads an encrypted callback body (at most MaxEnvelopeBytes).
// Element order does not matter; a missing Encrypt is ErrMalformed.
func ParseEnvelope(body []byte) (Envelope, error) {
	var e envelopeXML
	if !e.scan(body) {
		e = envelopeXML{}
		if err := decodeXML(body, &e); err != nil {
			return Envelope{}, err
		}
	}
	// Trimmed first: an Encrypt of only whitespace is as absent as an empty one.
	enc := strings.TrimSpace(e.Encrypt)
	if enc == "" {
		return Envelope{}, fmt.Errorf("%w: envelope without Encrypt", ErrMalformed)
	}
	return Envelope{ToUserName: e.ToUserName, Encrypt: enc, AgentID: strings.TrimSpace(e.AgentID)}, nil
}

// scan reads the envelope through ScanFlat; false: decode it with encoding/xml.
func (e *envelopeXML) scan(body []byte) bool {
	if len(body) > MaxEnvelopeBytes {
		return false
	}
	var seen [3]bool
	return ScanFlat(body, "xml", func(name string, v []byte) bool {
		var f *string
		var i int
		switch name {
		case "ToUserName":
			f, i = &e.ToUserName, 0
		case "Encrypt":
			f, i = &e.Encrypt, 1
		case "AgentID":
			f, i = &e.AgentID, 2
		default:
			return true
		}
		if seen[i] {
			return false
		}
		seen[i], *f = true, string(v)
		return true
	})
}

// ReadEnvelope is ParseEnvelope over a reader, reading at most MaxEnvelopeBytes+1.
func ReadEnvelope(r io.Reader) (Envelope, error) {
	body, err := io.ReadAll(io.LimitReader(r, MaxEnvelopeBytes+1))
	if err != nil {
		return Envelope{}, fmt.Errorf("wxcrypto: read envelope: %w", err)
	}
	return ParseEnvelope(body)
}

// Marshal renders the envelope as WeCom sends it (ToUserName, Encrypt, AgentID).
func (e Envelope) Marshal() []byte {
	var b bytes.Buffer
	b.WriteString("<xml><ToUserName>")
	writeCDATA(&b, e.ToUserName)
	b.WriteString("</ToUserName><Encrypt>")
	writeCDATA(&b, e.Encrypt)
	b.WriteString("</Encrypt>")
	if e.AgentID != "" {
		b.WriteString("<AgentID>")
		writeCDATA(&b, e.AgentID)
		b.WriteString("</AgentID>")
	}
	b.WriteString("</xml>")
	return b.Bytes()
}

// Reply is the passive encrypted reply an app may answer with.
type Reply struct {
	Encrypt      string
	MsgSignature string
	TimeStamp    string
	Nonce        string
}

type replyXML struct {
	XMLName      xml.Name `xml:"xml"`
	Encrypt      string   `xml:"Encrypt"`
	MsgSignature string   `xml:"MsgSignature"`
	TimeStamp    string   `xml:"TimeStamp"`
	Nonce        string   `xml:"Nonce"`
}

// ParseReply reads a passive reply envelope; all four fields are required.
func ParseReply(body []byte) (Reply, error) {
	var r replyXML
	if err := decodeXML(body, &r); err != nil {
		return Reply{}, err
	}
	out := Reply{Encrypt: strings.TrimSpace(r.Encrypt), MsgSignature: strings.TrimSpace(r.MsgSignature),
		TimeStamp: strings.TrimSpace(r.TimeStamp), Nonce: strings.TrimSpace(r.Nonce)}
	if out.Encrypt == "" || out.MsgSignature == "" || out.TimeStamp == "" || out.Nonce == "" {
		return Reply{}, fmt.Errorf("%w: reply lacks Encrypt/MsgSignature/TimeStamp/Nonce", ErrMalformed)
	}
	return out, nil
}

// Marshal renders the reply in the layout of the official samples.
func (r Reply) Marshal() []byte {
	var b bytes.Buffer
	b.WriteString("<xml>\n<Encrypt>")
	writeCDATA(&b, r.Encrypt)
	b.WriteString("</Encrypt>\n<MsgSignature>")
	writeCDATA(&b, r.MsgSignature)
	b.WriteString("</MsgSignature>\n<TimeStamp>")
	xml.EscapeText(&b, []byte(r.TimeStamp))
	b.WriteString("</TimeStamp>\n<Nonce>")
	writeCDATA(&b, r.Nonce)
	b.WriteString("</Nonce>\n</xml>")
	return b.Bytes()
}

func decodeXML(body []byte, v any) error {
	if len(body) > MaxEnvelopeBytes {
		return fmt.Errorf("%w: body larger than %d bytes", ErrMalformed, MaxEnvelopeBytes)
	}
	dec := xml.NewDecoder(bytes.NewReader(body))
	dec.Strict = true
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return nil
}

// writeCDATA writes s as CDATA, splitting any "]]>" so the text survives.
func writeCDATA(b *bytes.Buffer, s string) {
	b.WriteString("<![CDATA[")
	b.WriteString(strings.ReplaceAll(s, "]]>", "]]]]><![CDATA[>"))
	b.WriteString("]]>")
}

// CDATA returns s wrapped as CDATA; the sandbox builds event XML with it.
func CDATA(s string) string {
	var b bytes.Buffer
	writeCDATA(&b, s)
	return b.String()
}
