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
