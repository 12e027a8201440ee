package services

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/marketing-assistant/assistant/services/pii"
	"github.com/marketing-assistant/assistant/services/wecom"
)

// ConnectionSource gives the connection of the saved settings
// (*WeChatProvider).
type ConnectionSource interface {
	Current(ctx context.Context) (*Connection, error)
}

// WelcomeMessage is what a channel sends a customer who just added an
// employee: its text and, optionally, micro-page links.
type WelcomeMessage struct {
	Text  string
	Links []wecom.Link
	// TagIDs are corp tags the channel puts on every customer it brings.
	TagIDs []string
}

// WelcomeSource finds what a channel does to a customer it brings (welcome
// message, tags) by its contact-way state. ok is false for an unknown channel
// or one that does nothing.
type WelcomeSource interface {
	WelcomeFor(ctx context.Context, corpID, state string) (msg WelcomeMessage, ok bool, err error)
}

// EventProcessor turns inbox items into mirror rows, identities and moments.
// Every step is idempotent (upserts, moment dedup keys), so an item processed
// twice, or the same callback delivered three times, changes nothing more.
type EventProcessor struct {
	db     *sqlx.DB
	ids    *IdentityService
	mirror *WeComMirror
	conn   ConnectionSource
	// Welcomes is optional: without it no welcome message is sent.
	Welcomes WelcomeSource
	log      *slog.Logger
}

// NewEventProcessor returns a processor.
func NewEventProcessor(db *sqlx.DB, box *pii.Box, ids *IdentityService, conn ConnectionSource, log *slog.Logger) *EventProcessor {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &EventProcessor{db: db, ids: ids, mirror: NewWeComMirror(db, box), conn: conn, log: log}
}

// callbackEvent holds every field of the handled WeCom and OA events
// (wechat-protocol.md §2).
type callbackEvent struct {
	ToUserName     string   `xml:"ToUserName"`
	FromUserName   string   `xml:"FromUserName"`
	CreateTime     int64    `xml:"CreateTime"`
	MsgType        string   `xml:"MsgType"`
	Event          string   `xml:"Event"`
	ChangeType     string   `xml:"ChangeType"`
	UserID         string   `xml:"UserID"`
	NewUserID      string   `xml:"NewUserID"`
	ExternalUserID string   `xml:"ExternalUserID"`
	State          string   `xml:"State"`
	WelcomeCode    string   `xml:"WelcomeCode"`
	Source         string   `xml:"Source"`
	FailReason     string   `xml:"FailReason"`
	ChatID         string   `xml:"ChatId"`
	UpdateDetail   string   `xml:"UpdateDetail"`
	JoinScene      int      `xml:"JoinScene"`
	QuitScene      int      `xml:"QuitScene"`
	MemChangeList  []string `xml:"MemChangeList>Item"`
	CurMemVer      string   `xml:"CurMemVer"`
	ID             string   `xml:"Id"`
	TagType        string   `xml:"TagType"`
	Name           string   `xml:"Name"`
	Department     string   `xml:"Department"`
	MainDepartment int      `xml:"MainDepartment"`
	Position       string   `xml:"Position"`
	Status         int      `xml:"Status"`
	ParentID       int      `xml:"ParentId"`
	Order          int64    `xml:"Order"`
	EventKey       string   `xml:"EventKey"`
	Ticket         string   `xml:"Ticket"`
	MenuID         string   `xml:"MenuId"`
}

func (e callbackEvent) at() time.Time {
	if e.CreateTime <= 0 {
		return time.Now()
	}
	return time.Unix(e.CreateTime, 0)
}

// permanentError marks a failure that retrying cannot fix; the item becomes
// a dead letter at once.
type permanentError struct{ err error }

func (p permanentError) Error() string { return p.err.Error() }
func (p permanentError) Unwrap() error { return p.err }

func permanent(format string, args ...any) error {
	return permanentError{fmt.Errorf(format, args...)}
}

// IsPermanent reports whether a processing error should not be retried.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}

// Process handles one inbox item. Errors are transient (retry later) unless
// IsPermanent.
func (p *EventProcessor) Process(ctx context.Context, it InboxItem) error {
	if it.Source == SourceOA {
		if done, err := p.templateJobFinished(ctx, it.Payload); done { // templatemsg_finish.go
			return err
		}
	}
	var ev callbackEvent
	if err := xml.Unmarshal(it.Payload, &ev); err != nil {
		return permanent("events: decode item %d: %v", it.ID, err)
	}
	conn, err := p.conn.Current(ctx)
	if err != nil {
		return err
	}
	h := handling{p: p, conn: conn, ev: ev, corp: it.CorpID, ref: fmt.Sprintf("inbox:%d", it.ID)}
	if it.Source == SourceOA {
		return h.oa(ctx)
	}
	return h.wecom(ctx)
}

// handling is one item being processed.
type handling struct {
	p    *EventProcessor
	conn *Connection
	ev   callbackEvent
	corp string
	ref  string
}

func (h handling) client() (*wecom.Client, error) {
	if h.conn.Client == nil {
		return nil, h.conn.ClientErr
	}
	return h.conn.Client, nil
}

func (h handling) wecom(ctx context.Context) error {
	switch h.ev.Event {
	case "change_external_contact":
		return h.externalContact(ctx)
	case "change_external_chat":
		return h.externalChat(ctx)
	case "change_external_tag":
		return h.externalTag(ctx)
	case "change_contact":
		return h.contact(ctx)
	}
	return nil // other events and messages are not used; stored for the record
}

func (h handling) externalContact(ctx context.Context) error {
	switch h.ev.ChangeType {
	case "add_external_contact", "add_half_external_contact":
		return h.added(ctx)
	case "edit_external_contact":
		return h.edited(ctx)
	case "del_external_contact":
		return h.deleted(ctx, true)
	case "del_follow_user":
		return h.deleted(ctx, false)
	case "transfer_fail":
		return h.transferFailed(ctx)
	}
	return nil
}

// link runs one observation through the identity engine.
func (h handling) link(ctx context.Context, source string, ids []IdentityInput, ms []MomentInput) error {
	_, err := h.p.ids.Link(ctx, Observation{Source: source, Ref: h.ref, OccurredAt: h.ev.at(), Identities: ids, Moments: ms})
	if ErrorCode(err) == EINVALID {
		return permanentError{err}
	}
	return err
}

// detail renders a moment's detail object.
func detail(kv ...any) json.RawMessage {
	m := map[string]any{}
	for i := 0; i+1 < len(kv); i += 2 {
		if v := kv[i+1]; v != "" && v != nil && v != 0 { // an absent value, or WeCom's 0 for "unknown"
			m[kv[i].(string)] = v
		}
	}
	b, _ := json.Marshal(m)
	return b
}

// dedup builds a moment's dedup key from what identifies the happening, not
// from the delivery, so replays and re-deliveries record nothing twice.
func dedup(parts ...any) string {
	s := make([]string, len(parts))
	for i, p := range parts {
		s[i] = fmt.Sprint(p)
	}
	key := strings.Join(s, ":")
	if len(key) > 200 {
		key = key[:120] + ":" + shortHash(key)
	}
	return key
}
