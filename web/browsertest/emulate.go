package browsertest

import (
	"context"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// freshTab clears cookies left by earlier tests and, when ua is set, emulates
// that user agent on a phone-sized viewport.
func freshTab(ua string) chromedp.Action {
	return chromedp.ActionFunc(func(ctx context.Context) error {
		if err := network.ClearBrowserCookies().Do(ctx); err != nil {
			return err
		}
		if ua == "" {
			return nil
		}
		if err := emulation.SetUserAgentOverride(ua).WithAcceptLanguage("zh-CN").Do(ctx); err != nil {
			return err
		}
		return emulation.SetDeviceMetricsOverride(390, 844, 3, true).Do(ctx)
	})
}
