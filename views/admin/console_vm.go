package admin

import (
	"github.com/marketing-assistant/assistant/views/layout"
)

// Option is one choice of a select.
type Option struct {
	Value, Label string
	Selected     bool
}

// Flash is a one-line message above a page's content.
type Flash struct {
	Kind string // success, error, warn
	Text string
}

// UserFilterVM holds the search form's values as typed.
type UserFilterVM struct {
	Phone, Name, Tag, Channel, Kind, From, To string
	Archived                                  bool
}

// UserRowVM is one marketing user in the list.
type UserRowVM struct {
	ID         int64
	URL        string
	Name       string
	Phone      string // masked
	Identities int
	Kinds      string
	Created    string
	LastActive string
	Archived   bool
}

// UsersVM is the marketing users list.
type UsersVM struct {
	Shell   layout.AdminPage
	Filter  UserFilterVM
	Kinds   []Option
	Rows    []UserRowVM
	NextURL string
	Flash   *Flash
}

// IdentityVM is one identity with its evidence.
type IdentityVM struct {
	ID       int64
	Kind     string
	Scope    string
	Key      string // masked phone for phones
	Revealed string // the full phone, only in the answer to a reveal
	IsPhone  bool
	Name     string
	Verified bool
	Why      string
	LastSeen string
}

// MomentVM is one timeline entry.
type MomentVM struct {
	At, Kind, Channel, Title, Employee, IdentityKind string
}

// MergeLogVM is one merge or split.
type MergeLogVM struct {
	At, Kind, Actor, Reason, Source string
	From, Into                      int64
	Moved                           int
	Severed                         bool
}

// ConflictVM is one conflict.
type ConflictVM struct {
	ID                      int64
	UserA, UserB            int64
	Reason, ViaKind, Source string
	Status, At, ResolvedBy  string
	Seen                    int
}

// UserVM is a marketing user's detail page.
type UserVM struct {
	Shell       layout.AdminPage
	ID          int64
	RequestedID int64 // the absorbed id that was asked for, else 0
	Created     string
	Archived    string
	Identities  []IdentityVM
	Timeline    []MomentVM
	MoreURL     string
	MergeLog    []MergeLogVM
	Conflicts   []ConflictVM
	CanReveal   bool
	Member      *MemberVM
	Flash       *Flash
	MergeWith   string
}

// MemberVM is a member's growth and level on the user page.
type MemberVM struct {
	Points int64
	Level  string
}

// MergeVM is the merge preview page.
type MergeVM struct {
	Shell              layout.AdminPage
	From, With         int64
	Survivor, Absorbed int64
	Identities, Phones int
	Violations         []string
	SurvivorIDs        []IdentityVM
	AbsorbedIDs        []IdentityVM
	Reason             string
	Error              string
}

// ConflictsVM is the conflicts queue.
type ConflictsVM struct {
	Shell     layout.AdminPage
	Status    string
	Statuses  []Option
	Conflicts []ConflictVM
	Flash     *Flash
}
