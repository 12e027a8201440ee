package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/marketing-assistant/assistant/services"
	"github.com/marketing-assistant/assistant/web"
)

// internalVar names the test suite's knobs: comma-separated name=value pairs,
// deliberately left out of Config and the README (operators have no use for
// them) and refused in production. They let the reliability and
// several-instance tests point instances at one shared sandbox and shorten
// waits that would otherwise make the suite slow:
//
//	wecom_url, official_url, oauth_url   the WeCom / OA / OAuth API hosts (a sandbox)
//	read_header_timeout, read_timeout    the HTTP server's slow-client limits
//	inbox_poll, inbox_lease, inbox_backoff  the callback workers' pacing
const internalVar = "ASSISTANT_INTERNAL"

type internalOptions struct {
	urls         services.WeChatBaseURLs
	timeouts     web.Timeouts
	poll, lease  time.Duration
	inboxBackoff time.Duration
}

func parseInternal(cfg Config, spec string) (internalOptions, error) {
	var o internalOptions
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return o, nil
	}
	if cfg.Production() {
		return o, fmt.Errorf("%s: test options are not allowed in production", internalVar)
	}
	for _, kv := range strings.Split(spec, ",") {
		name, value, _ := strings.Cut(strings.TrimSpace(kv), "=")
		var d *time.Duration
		switch name {
		case "wecom_url":
			o.urls.WeCom = strings.TrimRight(value, "/")
			continue
		case "official_url":
			o.urls.Official = strings.TrimRight(value, "/")
			continue
		case "oauth_url":
			o.urls.OAuth = strings.TrimRight(value, "/")
			continue
		case "read_header_timeout":
			d = &o.timeouts.ReadHeader
		case "read_timeout":
			d = &o.timeouts.Read
		case "inbox_poll":
			d = &o.poll
		case "inbox_lease":
			d = &o.lease
		case "inbox_backoff":
			d = &o.inboxBackoff
		default:
			return o, fmt.Errorf("%s: unknown option %q", internalVar, name)
		}
		v, err := time.ParseDuration(value)
		if err != nil || v <= 0 {
			return o, fmt.Errorf("%s: %s=%q is not a positive duration", internalVar, name, value)
		}
		*d = v
	}
	return o, nil
}

// apply sets the options on the runtime before its workers start.
func (o internalOptions) apply(wc *wecomRuntime) {
	if o.urls != (services.WeChatBaseURLs{}) {
		wc.provider.SetBaseURLs(o.urls)
	}
	if o.poll > 0 {
		wc.worker.Poll = o.poll
	}
	if o.lease > 0 {
		wc.worker.Lease = o.lease
	}
	if b := o.inboxBackoff; b > 0 {
		wc.inbox.Backoff = func(int) time.Duration { return b }
	}
}
