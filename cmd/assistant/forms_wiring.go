package main

import (
	"github.com/marketing-assistant/assistant/handlers"
	"github.com/marketing-assistant/assistant/sandbox"
	"github.com/marketing-assistant/assistant/services"
	"github.com/marketing-assistant/assistant/services/pii"
)

// formDeps builds the registration forms' services. wechat may be nil until
// WeChat settings exist: the pages then work with the phone only and say
// that WeChat is not connected where it is needed.
//
// SMS: no real provider exists yet; outside production codes go to the
// in-memory sandbox sender, in production forms asking for SMS refuse
// politely until one is configured.
func formDeps(cfg Config, db *database, secrets Secrets, shared sharedServices, forms *services.FormService,
	wechat handlers.WeChatClients, sb *sandbox.Sandbox) handlers.FormDeps {
	audit := shared.audit
	var sms *services.SMSService
	if !cfg.Production() {
		sender := &services.SandboxSMS{}
		if sb != nil { // demo mode: codes show in the sandbox console's outbox
			sender.Forward = func(m services.SMSMessage) { sb.RecordSMS(m.Phone, "验证码 "+m.Code) }
		}
		sms = services.NewSMSService(db.DB, secrets.PII, sender, services.SMSConfig{})
	}
	subs := services.NewSubmissionService(services.SubmissionDeps{DB: db.DB, PII: secrets.PII,
		Identities: shared.ids, Forms: forms,
		Attribution: services.NewAttributor(pii.DeriveKey(secrets.Master, "attribution")), SMS: sms, Audit: audit},
		services.SubmissionConfig{})
	d := handlers.FormDeps{BaseURL: cfg.BaseURL, WeChat: wechat, Forms: forms, Submissions: subs}
	if sms != nil {
		d.SMS = sms
	}
	return d
}
