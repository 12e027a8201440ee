package services

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// materialLinkTTL is how long a link sent from the sidebar stays
// attributed: customers open chat links days later.
const materialLinkTTL = 30 * 24 * time.Hour

// SidebarMaterials offers the published forms as materials to send from
// the sidebar, each link signed with the employee and the chat's customer,
// so the view and the submission come back to this employee's sidebar.
type SidebarMaterials struct {
	sidebar *SidebarService
	forms   *FormService
	attr    *Attributor
	baseURL string
	tasks   openTasks // optional: the Tasks tab
}

// NewSidebarMaterials returns the materials of the sidebar.
func NewSidebarMaterials(sidebar *SidebarService, forms *FormService, attr *Attributor, baseURL string) *SidebarMaterials {
	return &SidebarMaterials{sidebar: sidebar, forms: forms, attr: attr, baseURL: baseURL}
}

// Materials lists the published forms with attributed links.
// Errors: ENOTFOUND (customer not visible).
func (m *SidebarMaterials) Materials(ctx context.Context, v Viewer, ext string) ([]SidebarMaterial, error) {
	if _, err := m.sidebar.check(ctx, v, ext); err != nil {
		return nil, err
	}
	forms, err := m.forms.PublishedForms(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]SidebarMaterial, 0, len(forms))
	for _, f := range forms {
		out = append(out, m.material(f, v, ext, "sidebar"))
	}
	return out, nil
}

// material is form f as a news card whose link is signed with the employee
// and the chat's customer. The corp id scopes the external_userid: without
// it the submission could not link the chat's customer.
func (m *SidebarMaterials) material(f Form, v Viewer, ext, channel string) SidebarMaterial {
	at := Attribution{Channel: channel, EmployeeUserID: v.UserID, ExternalUserID: ext, CorpID: v.CorpID}
	return SidebarMaterial{ID: f.Slug, Title: f.Title, Description: f.Description, Cover: f.CoverURL,
		Link: m.attr.AttributedLink(m.baseURL, f, at, materialLinkTTL,
			map[string]string{"utm_source": "wecom", "utm_medium": channel})}
}

// RecordMaterialSent records material_sent on the chat's customer, by the
// employee, after ww.sendChatMessage succeeded. Errors: ENOTFOUND.
func (m *SidebarMaterials) RecordMaterialSent(ctx context.Context, v Viewer, ext, slug string) error {
	r, err := m.sidebar.relationOrVisible(ctx, v, ext)
	if err != nil {
		return err
	}
	f, err := m.forms.FindPublishedForm(ctx, slug)
	if err != nil {
		return err
	}
	detail, _ := json.Marshal(map[string]any{"form_id": f.ID, "form_slug": f.Slug, "external_userid": ext})
	_, err = m.sidebar.ids.RecordMoments(ctx, []MomentRecord{{IdentityID: r.IdentityID, MomentInput: MomentInput{
		Kind: "material_sent", Channel: "sidebar", EmployeeUserID: v.UserID, Title: f.Title, Detail: detail}}})
	if err != nil {
		return fmt.Errorf("sidebar: material sent: %w", err)
	}
	return nil
}
