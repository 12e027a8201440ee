// Package browsertest drives Debian's chromium headless through chromedp for
// end-to-end tests of the pages.
//
// One browser process is shared by the tests of a package; each test gets its
// own tab and starts with no cookies. (Separate browser contexts would isolate
// better, but headless chromium 156 refuses to open tabs in them: "no browser
// is open".) Browser tests therefore must not run in parallel. The flags are the ones a root CI machine without network
// needs: no sandbox (root), no background networking, no component updates.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// WeChatUA is the user agent of the WeChat in-app browser on Android.
const WeChatUA = "Mozilla/5.0 (Linux; Android 14; Pixel 8 Build/UD1A; wv) AppleWebKit/537.36 (KHTML, like Gecko) " +
	"Version/4.0 Chrome/130.0.6723.103 Mobile Safari/537.36 XWEB/1300289 MMWEBSDK/20240404 MMWEBID/1234 " +
	"MicroMessenger/8.0.50.2701(0x28003252) WeChat/arm64 Weixin NetType/WIFI Language/zh_CN ABI/arm64"

// WeComUA is the user agent of the WeCom client's built-in browser.
const WeComUA = "Mozilla/5.0 (Linux; Android 14; Pixel 8 Build/UD1A; wv) AppleWebKit/537.36 (KHTML, like Gecko) " +
	"Version/4.0 Chrome/130.0.6723.103 Mobile Safari/537.36 wxwork/4.1.30 MicroMessenger/7.0.1 NetType/WIFI Language/zh ColorScheme/Light"

var shared struct {
	once   sync.Once
	ctx    context.Context
	cancel context.CancelFunc
	err    error
}

// ExecPath returns chromium's path, or "" when it is not installed.
func ExecPath() string {
	for _, p := range []string{os.Getenv("CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	return ""
}

// New returns a browser tab context for the test, with a phone-sized window and
// the given user agent (WeChatUA, WeComUA or "" for desktop chromium). The test
// is skipped when chromium is absent (make test installs it); every action is
// bounded by timeout, a cap against hangs: with -race and other packages'
// tests sharing two cores, a flow that takes 10 s alone can take 40.
func New(t *testing.T, userAgent string, timeout time.Duration) context.Context {
	t.Helper()
	path := ExecPath()
	if path == "" {
		t.Skip("chromium is not installed (make test installs it: apt-get install chromium)")
	}
	shared.once.Do(func() { startBrowser(path) })
	if shared.err != nil {
		t.Fatalf("browsertest: %v", shared.err)
	}
	tab, cancelTab := chromedp.NewContext(shared.ctx)
	ctx, cancel := context.WithTimeout(tab, timeout)
	t.Cleanup(func() { cancel(); cancelTab() })
	if err := chromedp.Run(ctx, freshTab(userAgent)); err != nil {
		t.Fatalf("browsertest: prepare tab: %v", err)
	}
	return ctx
}

func startBrowser(path string) {
	dir, err := os.MkdirTemp("", "browsertest-")
	if err != nil {
		shared.err = err
		return
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.Headless,
		chromedp.DisableGPU,
		chromedp.UserDataDir(dir),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(390, 844),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	browser, cancelBrowser := chromedp.NewContext(alloc)
	// Start the browser now so a broken install fails here, not mid-test.
	if err := chromedp.Run(browser); err != nil {
		shared.err = err
	}
	shared.ctx = browser
	shared.cancel = func() { cancelBrowser(); cancelAlloc(); os.RemoveAll(dir) }
}

// Close stops the shared browser; call it from TestMain after m.Run.
func Close() {
	if shared.cancel != nil {
		shared.cancel()
	}
}

// Screenshot saves a full-page PNG under $BROWSERTEST_SHOTS (default: the
// system temp dir) and returns its path, for looking at what a person sees.
func Screenshot(t *testing.T, ctx context.Context, name string) string {
	t.Helper()
	png, err := capture(ctx)
	if err != nil {
		// Once more, within the test's own deadline: a screenshot is for
		// people to look at, and one missed frame should not cost the test.
		png, err = capture(ctx)
	}
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	dir := os.Getenv("BROWSERTEST_SHOTS")
	if dir == "" {
		dir = os.TempDir()
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// captureTimeout bounds one capture. Headless chromium answers
// captureScreenshot only with a new frame, and a tab that is not in front
// produces none: the request then waited until the whole test's deadline
// (seen in CI as "screenshot: context deadline exceeded" after 90 s).
const captureTimeout = 20 * time.Second

// capture brings the tab to the front and takes a full-page PNG.
func capture(ctx context.Context) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, captureTimeout)
	defer cancel()
	var png []byte
	err := chromedp.Run(ctx,
		chromedp.ActionFunc(func(ctx context.Context) error { return page.BringToFront().Do(ctx) }),
		chromedp.FullScreenshot(&png, 100), // quality 100 makes chromium encode PNG; lower is JPEG
	)
	return png, err
}
