package services

import (
	"context"
	"testing"

	"github.com/marketing-assistant/assistant/services/pgtest"
)

// channelAdmin is a local admin, who may run syncs and manage channels.
var channelAdmin = Operator{Kind: "local", ID: "1", Role: RoleAdmin}

// TestSyncAndChannelsAreAdminOnly: managers and staff are refused starting
// a sync and creating or deleting a channel QR code by the services
// themselves, before anything reaches WeCom.
func TestSyncAndChannelsAreAdminOnly(t *testing.T) {
	db := pgtest.NewDB(t)
	ctx := context.Background()
	jobs := NewSyncService(db, testBox(t), NewIdentityService(db, testBox(t)), nil)
	chs := NewChannelService(db, "https://app.example.com/")
	in := ChannelInput{Code: "poster_2026", Name: "海报", Employees: []string{"emp001"}}
	for _, v := range []Operator{
		{Kind: "wecom", ID: "mgr", CorpID: corp, Role: RoleManager, DepartmentIDs: []int64{2}},
		{Kind: "wecom", ID: "rep", CorpID: corp, Role: RoleStaff},
	} {
		if _, err := jobs.Start(ctx, SyncTarget{CorpID: corp}, SyncContacts, v); ErrorCode(err) != EFORBIDDEN {
			t.Errorf("%s starts a sync: %v", v.Role, err)
		}
		if _, err := chs.CreateChannel(ctx, nil, corp, in, v); ErrorCode(err) != EFORBIDDEN {
			t.Errorf("%s creates a channel: %v", v.Role, err)
		}
		if err := chs.DeleteChannel(ctx, nil, corp, 1, v); ErrorCode(err) != EFORBIDDEN {
			t.Errorf("%s deletes a channel: %v", v.Role, err)
		}
	}
	if _, err := jobs.Start(ctx, SyncTarget{CorpID: corp}, SyncContacts, channelAdmin); ErrorCode(err) != EUNAVAILABLE {
		t.Errorf("admin starts a sync without WeCom: %v", err)
	}
	if err := chs.DeleteChannel(ctx, nil, corp, 1, channelAdmin); ErrorCode(err) != ENOTFOUND {
		t.Errorf("admin deletes a missing channel: %v", err)
	}
}

// TestActorRoleGuardsAdminOnlyActions: OA QR codes, template messages and
// the inbox's dead letters refuse an actor that is not an admin (a
// manager, or a caller that left the role out) before anything else.
func TestActorRoleGuardsAdminOnlyActions(t *testing.T) {
	db := pgtest.NewDB(t)
	ctx := context.Background()
	box, audit := testBox(t), NewAuditService(db)
	attr := NewAttributor(make([]byte, 32))
	qr := NewOAQRCodeService(db, audit, attr, "https://app.example.com")
	tm := NewTemplateMessageService(db, audit, NewSegmentService(db, audit), attr, "https://app.example.com",
		func(context.Context) (TemplateClient, error) { return nil, Errorf(EUNAVAILABLE, "未连接") })
	inbox := NewInboxService(db, box, audit)
	settings := NewSettingsService(db, box, audit)
	for _, by := range []Actor{{Kind: "wecom", ID: "mgr", Role: RoleManager}, {Kind: "local", ID: "1"}} {
		checks := map[string]error{}
		_, checks["qr create"] = qr.Create(ctx, nil, "wxoa", OAQRCodeInput{}, by)
		checks["qr retire"] = qr.Retire(ctx, 1, by)
		_, checks["templates sync"] = tm.SyncTemplates(ctx, "wxoa", by)
		_, checks["send create"] = tm.CreateSend(ctx, "wxoa", TemplateSendInput{}, by)
		_, checks["test send"] = tm.TestSend(ctx, 1, "oFan", by)
		_, checks["send start"] = tm.Start(ctx, 1, by)
		checks["inbox retry"] = inbox.Retry(ctx, 1, by)
		_, checks["settings save"] = settings.UpdateSettings(ctx, SettingsUpdate{CorpID: "wwforged"}, by)
		for what, err := range checks {
			if ErrorCode(err) != EFORBIDDEN {
				t.Errorf("%q %s: %v", by.Role, what, err)
			}
		}
	}
	admin := Actor{Kind: "local", ID: "1", Role: RoleAdmin}
	if err := qr.Retire(ctx, 1, admin); ErrorCode(err) != ENOTFOUND {
		t.Errorf("admin retires a missing code: %v", err)
	}
	if err := inbox.Retry(ctx, 1, admin); ErrorCode(err) != ENOTFOUND {
		t.Errorf("admin retries a missing dead letter: %v", err)
	}
	if _, err := settings.UpdateSettings(ctx, SettingsUpdate{CorpID: "wwadmin1", AgentID: "1000002", AppMode: AppModeSelfBuilt, OAMessageMode: OAModeSafe,
		Secrets: map[string]string{"agent_secret": "agent-secret-of-the-test"}}, admin); err != nil {
		t.Errorf("admin saves the settings: %v %v", err, ErrorFields(err))
	}
	var audited int
	db.Get(&audited, `SELECT count(*) FROM audit_log WHERE action = 'settings_changed'`)
	if audited != 1 {
		t.Errorf("%d settings_changed rows, want 1 (refused saves write none)", audited)
	}
}
