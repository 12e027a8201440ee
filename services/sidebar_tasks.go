package services

import (
	"context"
	"strconv"
	"time"
)

// openTasks is what the sidebar needs of promotion tasks.
type openTasks interface {
	OpenTasksFor(ctx context.Context, corpID, userID string) ([]OpenTask, error)
}

// SidebarTask is an open promotion task of the employee with its material,
// ready to send into this chat.
type SidebarTask struct {
	ID       int64
	Title    string
	Message  string
	Deadline time.Time
	Material SidebarMaterial
}

// UseTasks lets the sidebar list the employee's open promotion tasks.
func (m *SidebarMaterials) UseTasks(t openTasks) *SidebarMaterials {
	m.tasks = t
	return m
}

// HasTasks reports whether promotion tasks are wired in.
func (m *SidebarMaterials) HasTasks() bool { return m.tasks != nil }

// Tasks lists the employee's open promotion tasks, soonest deadline first,
// each material linked with the employee and this chat's customer, so the
// sends, views and registrations count for the task. A task whose form was
// unpublished since is left out. Errors: ENOTFOUND (customer not visible).
func (m *SidebarMaterials) Tasks(ctx context.Context, v Viewer, ext string) ([]SidebarTask, error) {
	if m.tasks == nil {
		return nil, nil
	}
	if _, err := m.sidebar.check(ctx, v, ext); err != nil {
		return nil, err
	}
	open, err := m.tasks.OpenTasksFor(ctx, v.CorpID, v.UserID)
	if err != nil {
		return nil, err
	}
	out := make([]SidebarTask, 0, len(open))
	for _, t := range open {
		id, err := strconv.ParseInt(t.FormID, 10, 64)
		if err != nil {
			continue
		}
		f, err := m.forms.FindFormByID(ctx, id)
		if err != nil || !f.Published {
			continue
		}
		channel := "task:" + strconv.FormatInt(t.ID, 10)
		out = append(out, SidebarTask{ID: t.ID, Title: t.Title, Message: t.Message, Deadline: t.Deadline,
			Material: m.material(f, v, ext, channel)})
	}
	return out, nil
}
