// Package settings renders the connection settings page and the callback
// inbox page of the admin console.
package settings

import (
	"time"

	"github.com/marketing-assistant/assistant/views/layout"
)

// Field is one input of the settings form.
type Field struct {
	Name  string // form name
	Label string
	Hint  string
	// Secret fields are never filled with the saved value: Set says whether
	// one is saved, Value holds only a freshly generated one.
	Secret    bool
	Set       bool
	Value     string
	Error     string
	Generate  bool     // offers a "generate" button
	Clearable bool     // offers a "remove" checkbox
	Options   []Option // a select when non-empty
}

// Option is one choice of a select.
type Option struct {
	Value, Label string
	Selected     bool
}

// Section is a group of fields (WeCom, OA, MP).
type Section struct {
	Title, Desc string
	TestApp     string // app name for the test-connection button
	Fields      []Field
}

// PasteItem is a value the admin pastes into a WeCom / WeChat console.
type PasteItem struct {
	Label, Value, Where, TestID string
}

// TestResult is the outcome of a connection test.
type TestResult struct {
	App, Title, Message, Advice string
	OK                          bool
	Code                        int
}

// SettingsVM is the settings page.
type SettingsVM struct {
	Shell     layout.AdminPage
	Flash     string
	FlashKind string // success, error, warn
	Sections  []Section
	Paste     []PasteItem
	Notes     []string
	Results   []TestResult
	Sandbox   bool
	UpdatedAt time.Time
	UpdatedBy string
}

// InboxRow is one dead letter.
type InboxRow struct {
	ID         int64
	Source     string
	Event      string
	Attempts   int
	LastError  string
	ReceivedAt time.Time
}

// InboxVM is the callback inbox page.
type InboxVM struct {
	Shell     layout.AdminPage
	Flash     string
	FlashKind string
	Pending   int
	Done      int
	Dead      int
	Lag       string
	Rows      []InboxRow
}
