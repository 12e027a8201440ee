package handlers

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/marketing-assistant/assistant/sandbox"
	"github.com/marketing-assistant/assistant/services"
)

// lazyTags lets a test build the service on the env's database after the
// routes are registered.
type lazyTags struct{ *services.MemberTagService }

// tagsEnv is the console with a member who is a real sandbox customer of
// "rep", mirrored into the database.
type tagsEnv struct {
	*consoleEnv
	sb     *sandbox.Sandbox
	tags   *services.MemberTagService
	member int64
	ext    string
}

func newTagsEnv(t *testing.T) *tagsEnv {
	sb, client := startWeComSandbox(t)
	lt := &lazyTags{}
	env := newConsoleEnv(t, func(d *Deps) { d.Console.MemberTags = lt; d.Console.WeChat = FixedWeChat{Client: client} })
	lt.MemberTagService = services.NewMemberTagService(env.db, services.NewAuditService(env.db), FixedWeChat{Client: client}, nil)
	p, err := sb.CreateWeChatUser(sandbox.NewWeChatUser{Nickname: "会员"})
	if err != nil {
		t.Fatal(err)
	}
	added, err := sb.AddCustomer(sandbox.AddCustomerInput{WeChatUser: p.ID, EmployeeUserID: "rep"})
	if err != nil {
		t.Fatal(err)
	}
	env.exec(`INSERT INTO wecom_follows (corp_id, userid, external_userid) VALUES ($1, 'rep', $2)`, testCorp, added.ExternalUserID)
	m := env.link(services.IdentityInput{Kind: services.KindMember, Scope: "crm", Key: "M-7"},
		services.IdentityInput{Kind: services.KindExternalUserID, Scope: testCorp, Key: added.ExternalUserID}).UserID
	return &tagsEnv{consoleEnv: env, sb: sb, tags: lt.MemberTagService, member: m, ext: added.ExternalUserID}
}

// wecomTags are the tags WeCom (the sandbox) holds on rep's relation.
func (e *tagsEnv) wecomTags(t *testing.T) []string {
	for _, c := range e.sb.Customers("rep", 0) {
		for _, f := range c.Follows {
			if f.ExternalUserID == e.ext && f.UserID == "rep" {
				return f.TagIDs
			}
		}
	}
	t.Fatal("relation missing in the sandbox")
	return nil
}

func (e *tagsEnv) tagOf(t *testing.T, level string) string {
	var id string
	if err := e.db.Get(&id, `SELECT corp_tag_id FROM member_levels WHERE name = $1`, level); err != nil || id == "" {
		t.Fatalf("%s: tag %q, %v", level, id, err)
	}
	return id
}

func (e *tagsEnv) grow(t *testing.T, points int) {
	t.Helper()
	w := e.do(http.MethodPost, userPath(e.member, "/growth"), "admin", url.Values{"points": {strconv.Itoa(points)}})
	if w.Code != http.StatusSeeOther {
		t.Fatalf("growth: %d", w.Code)
	}
	if _, err := e.tags.ProcessDue(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestConsoleLevelTags(t *testing.T) {
	e := newTagsEnv(t)
	page := e.do(http.MethodGet, "/admin/members", "admin", nil).Body.String()
	if !strings.Contains(page, `data-testid="create-level-tags"`) {
		t.Fatal("the members page offers no level tags")
	}
	if w := e.do(http.MethodPost, "/admin/members/level-tags", "manager", nil); w.Code != http.StatusForbidden {
		t.Fatalf("manager creates tags: %d", w.Code)
	}
	if w := e.do(http.MethodPost, "/admin/members/level-tags", "admin", nil); w.Code != http.StatusSeeOther {
		t.Fatalf("create tags: %d %s", w.Code, w.Body.String())
	}
	silver := e.tagOf(t, "银卡会员")
	e.grow(t, 1200)
	if tags := e.wecomTags(t); !slices.Contains(tags, silver) {
		t.Fatalf("after reaching 银卡: WeCom tags %v, want %s", tags, silver)
	}
	page = e.do(http.MethodGet, "/admin/members", "admin", nil).Body.String()
	if !strings.Contains(page, `selected>会员等级 / 银卡会员</option>`) || !strings.Contains(page, "标签已全部同步") {
		t.Fatal("the page does not show the binding or the synced state")
	}
	// An unknown tag is refused on the page, not on an error page.
	var silverID int64
	_ = e.db.Get(&silverID, `SELECT id FROM member_levels WHERE name = '银卡会员'`)
	bind := "/admin/members/levels/" + strconv.FormatInt(silverID, 10) + "/tag"
	if w := e.do(http.MethodPost, bind, "admin", url.Values{"tag_id": {"et-unknown"}}); w.Code != http.StatusUnprocessableEntity {
		t.Fatalf("unknown tag: %d", w.Code)
	}
	if w := e.do(http.MethodPost, bind, "manager", url.Values{"tag_id": {""}}); w.Code != http.StatusForbidden {
		t.Fatalf("manager binds: %d", w.Code)
	}
	if n := e.auditCount("member_level_tags_created"); n != 1 {
		t.Fatalf("tag creation audited %d times", n)
	}
}

// A sync WeCom keeps refusing ends on the page with the errcode and a retry
// button; the retry applies the level once WeCom accepts.
func TestConsoleLevelTagFailureShownAndRetried(t *testing.T) {
	e := newTagsEnv(t)
	if w := e.do(http.MethodPost, "/admin/members/level-tags", "admin", nil); w.Code != http.StatusSeeOther {
		t.Fatalf("create tags: %d", w.Code)
	}
	e.tags.MaxAttempts = 1
	if _, err := e.sb.AddFault(sandbox.Fault{Path: "/cgi-bin/externalcontact/mark_tag", ErrCode: 45009, Times: -1}); err != nil {
		t.Fatal(err)
	}
	e.grow(t, 1200)
	page := e.do(http.MethodGet, "/admin/members", "admin", nil).Body.String()
	if !strings.Contains(page, `data-testid="tag-sync-failed"`) || !strings.Contains(page, "45009") {
		t.Fatal("the failed sync is not shown with WeCom's errcode")
	}
	var job int64
	_ = e.db.Get(&job, `SELECT id FROM member_tag_jobs WHERE state = 'failed'`)
	e.sb.ClearFaults()
	retry := "/admin/members/tag-sync/" + strconv.FormatInt(job, 10) + "/retry"
	if w := e.do(http.MethodPost, retry, "manager", nil); w.Code != http.StatusForbidden {
		t.Fatalf("manager retries: %d", w.Code)
	}
	if w := e.do(http.MethodPost, retry, "admin", nil); w.Code != http.StatusSeeOther {
		t.Fatalf("retry: %d", w.Code)
	}
	if _, err := e.tags.ProcessDue(context.Background()); err != nil {
		t.Fatal(err)
	}
	if tags := e.wecomTags(t); !slices.Contains(tags, e.tagOf(t, "银卡会员")) {
		t.Fatalf("after the retry: WeCom tags %v", tags)
	}
	if n := e.auditCount("member_tag_sync_retried"); n != 1 {
		t.Fatalf("retry audited %d times", n)
	}
}
