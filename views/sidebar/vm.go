// Package sidebar renders the WeCom chat sidebar: the shell that registers
// the JS-SDK, the customer profile with its timeline, tags, materials and
// CRM conversion, group chats, and the failure screens with their advice.
package sidebar

// PageVM is the sidebar shell. The JS-SDK settings travel as data-*
// attributes for static/js/sidebar.js (no inline script).
type PageVM struct {
	CorpID    string
	AgentID   int
	UserName  string // the signed-in employee
	ShimURL   string // sandbox mode: the ww shim loaded instead of the SDK
	ConfigURL string // POST {url} → corp ticket signature
	AgentURL  string // POST {url} → agent ticket signature
	// Problems are the screens the script may show, one per cause it can
	// detect in the browser.
	Problems []ProblemVM
}

// ProblemVM is a failure screen: what went wrong and what to do.
type ProblemVM struct {
	Cause  string // not_wecom, signature, no_permission, not_visible, not_in_chat, not_connected, api_failed, …
	Title  string
	Detail string
	Advice []string
	// Code is a WeCom errcode or error message, when there is one.
	Code string
	// Retry shows a "re-sign and retry" button.
	Retry     bool
	RequestID string
}

// Chip is one identity of the person with why it is linked.
type Chip struct {
	Kind  string // identity kind, for tests
	Label string
	Tone  string // brand, info, warn, danger or ""
	Why   string
}

// Phone is a phone identity, masked.
type Phone struct {
	IdentityID int64
	Masked     string
	Verified   bool
	RevealURL  string // "" when the viewer may not reveal
}

// Moment is one timeline entry.
type Moment struct {
	ID       int64
	What     string
	When     string
	Channel  string
	Employee string
	Source   string // the identity it was observed on
	Tone     string
}

// TimelineVM is a page of moments; NextURL loads the next one.
type TimelineVM struct {
	Moments []Moment
	NextURL string
	Empty   string
}

// FilterChip filters the timeline by a group of kinds.
type FilterChip struct {
	Key, Label, URL string
	Active          bool
}

// CRMAction is a "Create lead / contact / account" button.
type CRMAction struct {
	Kind, Label string
	Done        bool // the person already has one
}

// ProfileVM is the customer of a one-on-one chat.
type ProfileVM struct {
	Base           string // /sidebar/c/<ext>
	ExternalUserID string
	Name           string
	Remark         string
	Avatar         string
	CorpName       string
	Position       string
	Phones         []Phone
	Chips          []Chip
	Conflicts      int
	Followers      []string
	CRM            []CRMAction
	CRMMessage     string
	CRMError       string
	Filters        []FilterChip
	Timeline       TimelineVM
	HasMaterials   bool
	HasTasks       bool
}

// TagGroup is a group of corp tag toggles.
type TagGroup struct {
	Name string
	Tags []Tag
}

// Tag is one toggle.
type Tag struct {
	ID, Name string
	On       bool
}

// TagsVM is the tags tab.
type TagsVM struct {
	PostURL string
	Groups  []TagGroup
	Error   string // a WeCom error, shown, never swallowed
	Advice  string
	Notice  string
}

// Material is a form / micro-page that can be sent into the chat.
type Material struct {
	ID, Title, Description, Cover, Link, RecordURL string
}

// Task is an open promotion task with its material.
type Task struct {
	ID                       int64
	Title, Message, Deadline string
	Material                 Material
}

// TasksVM is the tasks tab.
type TasksVM struct {
	Tasks []Task
}

// MaterialsVM is the materials tab.
type MaterialsVM struct {
	Materials []Material
	Error     string
}

// GroupVM is a customer group chat.
type GroupVM struct {
	ChatID, Name, Owner string
	Members, Customers  int
	KnownUsers          int
	Moments             []Moment
}
