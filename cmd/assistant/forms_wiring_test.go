package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/marketing-assistant/assistant/sandbox"
	"github.com/marketing-assistant/assistant/services"
	"github.com/marketing-assistant/assistant/services/pgtest"
)

// In demo mode the forms' development SMS sender puts each verification code
// into the sandbox outbox, where the console shows it.
func TestDemoSMSCodesReachTheSandboxOutbox(t *testing.T) {
	ctx := context.Background()
	sb, err := sandbox.Start(ctx, sandbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close(context.Background()) })
	box, key := testPII(t)
	db := &database{DB: pgtest.NewDB(t)}
	shared := sharedServices{audit: services.NewAuditService(db.DB), ids: services.NewIdentityService(db.DB, box)}
	cfg := Config{Env: "development", BaseURL: "http://127.0.0.1:1"}
	secrets := Secrets{PII: box, Master: key}
	d := formDeps(cfg, db, secrets, shared, services.NewFormService(db.DB, shared.audit, cfg.BaseURL), nil, sb)
	sms, ok := d.SMS.(*services.SMSService)
	if !ok {
		t.Fatalf("no SMS service outside production: %T", d.SMS)
	}
	if err := sms.SendCode(ctx, "13912345678", "form:1"); err != nil {
		t.Fatal(err)
	}
	out := sb.Outbox(sandbox.OutboxSMS)
	if len(out) != 1 {
		t.Fatalf("sms outbox: %+v", out)
	}
	var msg struct{ Phone, Text string }
	if err := json.Unmarshal(out[0].Payload, &msg); err != nil || !strings.HasPrefix(msg.Text, "验证码 ") || len(msg.Text) <= len("验证码 ") {
		t.Fatalf("outbox entry %s (%v)", out[0].Payload, err)
	}
}
