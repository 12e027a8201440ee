package services

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/marketing-assistant/assistant/services/pgtest"
	"github.com/marketing-assistant/assistant/services/wecom"
)

// countingDriver counts the statements sent to PostgreSQL: the sidebar's
// round-trip budget is checked against it.
type countingDriver struct{ n *atomic.Int64 }

func (d countingDriver) Open(dsn string) (driver.Conn, error) {
	c, err := pq.Open(dsn)
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, n: d.n}, nil
}

type countingConn struct {
	driver.Conn
	n *atomic.Int64
}

func (c *countingConn) QueryContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	c.n.Add(1)
	return c.Conn.(driver.QueryerContext).QueryContext(ctx, q, args)
}

func (c *countingConn) ExecContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	c.n.Add(1)
	return c.Conn.(driver.ExecerContext).ExecContext(ctx, q, args)
}

func (c *countingConn) PrepareContext(ctx context.Context, q string) (driver.Stmt, error) {
	st, err := c.Conn.(driver.ConnPrepareContext).PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	return &countingStmt{Stmt: st, n: c.n}, nil
}

// countingStmt counts executions of prepared statements (the preparation
// itself happens once per connection and is not a per-request trip).
type countingStmt struct {
	driver.Stmt
	n *atomic.Int64
}

func (s *countingStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	s.n.Add(1)
	return s.Stmt.(driver.StmtQueryContext).QueryContext(ctx, args)
}

func (s *countingStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	s.n.Add(1)
	return s.Stmt.(driver.StmtExecContext).ExecContext(ctx, args)
}

func (c *countingConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	return c.Conn.(driver.ConnBeginTx).BeginTx(ctx, opts)
}

var registerCounting sync.Once

// countedDB opens a fresh test database through the counting driver.
func countedDB(t *testing.T) (*sqlx.DB, *atomic.Int64) {
	registerCounting.Do(func() { sql.Register("pgcount-sidebar", countingDriver{n: sidebarCounter}) })
	db, err := sql.Open("pgcount-sidebar", pgtest.NewDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return sqlx.NewDb(db, "postgres"), sidebarCounter
}

// sidebarCounter is shared by every connection the counting driver opens.
var sidebarCounter = new(atomic.Int64)

// fakeWeCom answers the sidebar's WeCom calls from memory.
type fakeWeCom struct {
	contacts map[string]wecom.ContactDetail
	tags     []wecom.TagGroup
	marked   [][2][]string
	markErr  error
}

func (f *fakeWeCom) GetExternalContact(_ context.Context, ext string) (wecom.ContactDetail, error) {
	d, ok := f.contacts[ext]
	if !ok {
		return d, &wecom.APIError{Code: 84061, Msg: "not external contact", Op: "externalcontact/get"}
	}
	return d, nil
}
func (f *fakeWeCom) CorpTags(context.Context, []string, []string) ([]wecom.TagGroup, error) {
	return f.tags, nil
}
func (f *fakeWeCom) MarkTag(_ context.Context, _, _ string, add, remove []string) error {
	f.marked = append(f.marked, [2][]string{add, remove})
	return f.markErr
}
func (f *fakeWeCom) GetGroupChat(_ context.Context, id string) (wecom.GroupChat, error) {
	return wecom.GroupChat{ChatID: id, Name: "VIP 群", Owner: "alice", Members: []wecom.ChatMember{
		{UserID: "alice", Type: 1}, {UserID: "wmC1", Type: 2, UnionID: "u-c1"}, {UserID: "wmX", Type: 2}}}, nil
}

const corp = "wwcorp"

// sidebarWorld: alice (dept 2) follows wmC1, whose person also is an OA
// fan and a mini-program user (same unionid); bob (dept 3) follows nobody;
// carol manages dept 2; dave is an admin.
func sidebarWorld(t testing.TB, db *sqlx.DB) (*SidebarService, *fakeWeCom) {
	t.Helper()
	ctx := context.Background()
	ids := NewIdentityService(db, testBox(t))
	s := NewSidebarService(db, testBox(t), ids, NewAuditService(db))
	for _, u := range []wecom.User{{UserID: "alice", Name: "张三", Departments: []int{2}},
		{UserID: "bob", Name: "李四", Departments: []int{3}}, {UserID: "carol", Name: "王五", Departments: []int{1}},
		{UserID: "dave", Name: "赵六", Departments: []int{1}}} {
		if err := s.StaffSignedIn(ctx, corp, u); err != nil {
			t.Fatal(err)
		}
	}
	roles := NewRoleService(db, NewAuditService(db))
	must(t, roles.SetRole(ctx, StaffRole{CorpID: corp, UserID: "carol", Role: RoleManager, DepartmentIDs: []int64{2}}, "local", "1"))
	must(t, roles.SetRole(ctx, StaffRole{CorpID: corp, UserID: "dave", Role: RoleAdmin, DepartmentIDs: []int64{}}, "local", "1"))
	base := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	api := &fakeWeCom{contacts: map[string]wecom.ContactDetail{"wmC1": {
		Contact: wecom.ExternalContact{ExternalUserID: "wmC1", Name: "客户甲", UnionID: "u-c1", CorpName: "甲公司"},
		Follows: []wecom.FollowInfo{{UserID: "alice", Remark: "甲总", CreateTime: base.Unix(), RemarkMobiles: []string{"13912345678"},
			Tags: []wecom.ContactTag{{TagID: "t1", TagName: "高意向", Type: 1}}}}}},
		tags: []wecom.TagGroup{{GroupID: "g1", GroupName: "意向", Tags: []wecom.CorpTag{{ID: "t1", Name: "高意向"}, {ID: "t2", Name: "低意向"}}}}}
	must(t, s.ImportContact(ctx, Viewer{CorpID: corp, UserID: "alice"}, "wmC1", api))
	_, err := ids.Link(ctx, Observation{Source: "oa", Ref: "subscribe", OccurredAt: base.Add(time.Hour), Identities: []IdentityInput{
		{Kind: KindOAOpenID, Scope: "wxoa", Key: "o-c1"}, {Kind: KindUnionID, Key: "u-c1"}},
		Moments: []MomentInput{{Kind: "oa_subscribed", Channel: "oa"}}})
	must(t, err)
	_, err = ids.Link(ctx, Observation{Source: "mp", Ref: "session", OccurredAt: base.Add(2 * time.Hour), Identities: []IdentityInput{
		{Kind: KindMPOpenID, Scope: "wxmp", Key: "m-c1"}, {Kind: KindUnionID, Key: "u-c1"}},
		Moments: []MomentInput{{Kind: "mp_authorized", Channel: "mp"}}})
	must(t, err)
	return s, api
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestSidebarProfileAccessAndRoundTrips(t *testing.T) {
	db, n := countedDB(t)
	s, _ := sidebarWorld(t, db)
	ctx := context.Background()
	alice := Viewer{CorpID: corp, UserID: "alice"}
	if _, err := s.Profile(ctx, alice, "wmC1", nil); err != nil { // prepares the statements
		t.Fatal(err)
	}
	start := n.Load()
	p, err := s.Profile(ctx, alice, "wmC1", nil)
	if err != nil {
		t.Fatal(err)
	}
	trips := n.Load() - start
	if trips != 1 {
		t.Errorf("profile + first timeline page took %d statements, want 1", trips)
	}
	t.Logf("profile + first timeline page: %d statements", trips)
	kinds := map[IdentityKind]bool{}
	for _, i := range p.Identities {
		kinds[i.Kind] = true
	}
	for _, k := range []IdentityKind{KindExternalUserID, KindUnionID, KindOAOpenID, KindMPOpenID, KindPhone} {
		if !kinds[k] {
			t.Errorf("identity %s missing: %+v", k, p.Identities)
		}
	}
	if p.Contact.Name != "客户甲" || p.Contact.Remark != "甲总" || len(p.Followers) != 1 || p.Followers[0].Name != "张三" {
		t.Errorf("card %+v followers %+v", p.Contact, p.Followers)
	}
	var got []MomentKind
	for _, m := range p.Timeline.Moments {
		got = append(got, m.Kind)
	}
	want := []MomentKind{"mp_authorized", "oa_subscribed", "wecom_added"}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Errorf("timeline %v, want %v", got, want)
	}
	if p.Timeline.Moments[2].EmployeeName != "张三" {
		t.Errorf("wecom_added attributed to %q", p.Timeline.Moments[2].EmployeeName)
	}
	if p.CanRevealPhone {
		t.Error("staff may reveal phones by default")
	}
	for _, v := range []string{"carol", "dave"} {
		if _, err := s.Profile(ctx, Viewer{CorpID: corp, UserID: v}, "wmC1", nil); err != nil {
			t.Errorf("%s: %v", v, err)
		}
	}
	for _, tc := range []struct{ who, ext string }{{"bob", "wmC1"}, {"alice", "wmNOPE"}, {"alice", "o-c1"}} {
		if _, err := s.Profile(ctx, Viewer{CorpID: corp, UserID: tc.who}, tc.ext, nil); ErrorCode(err) != ENOTFOUND {
			t.Errorf("%s on %s: %v, want ENOTFOUND", tc.who, tc.ext, err)
		}
	}
	if _, err := s.Timeline(ctx, Viewer{CorpID: corp, UserID: "bob"}, "wmC1", TimelineQuery{}); ErrorCode(err) != ENOTFOUND {
		t.Errorf("bob timeline: %v", err)
	}
}

// The profile's first timeline page (read in the profile's statement) is
// the timeline's first page, with and without a kind filter, cursor included.
func TestSidebarProfileFirstPageIsTheTimelines(t *testing.T) {
	db := pgtest.NewDB(t)
	s, _ := sidebarWorld(t, db)
	ctx := context.Background()
	alice := Viewer{CorpID: corp, UserID: "alice"}
	var idents []int64
	must(t, db.Select(&idents, `SELECT id FROM identities WHERE user_id = (SELECT user_id FROM identities
WHERE kind = 'wecom_external_userid' AND key = 'wmC1') ORDER BY id`))
	base := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)
	var recs []MomentRecord
	for i := range 30 {
		kind := MomentKind("form_viewed")
		if i%3 == 0 {
			kind = "material_opened"
		}
		recs = append(recs, MomentRecord{IdentityID: idents[i%len(idents)], MomentInput: MomentInput{Kind: kind,
			OccurredAt: base.Add(time.Duration(i/2) * time.Minute), Channel: "form", EmployeeUserID: "alice",
			Title: fmt.Sprintf("第%d次", i), Detail: json.RawMessage(`{"form_id": 7, "n": "<b>"}`)}})
	}
	if _, err := s.ids.RecordMoments(ctx, recs); err != nil {
		t.Fatal(err)
	}
	for _, kinds := range [][]MomentKind{nil, {"material_opened", "wecom_added"}} {
		p, err := s.Profile(ctx, alice, "wmC1", kinds)
		if err != nil {
			t.Fatal(err)
		}
		tl, err := s.Timeline(ctx, alice, "wmC1", TimelineQuery{Kinds: kinds})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := pageSummary(p.Timeline), pageSummary(tl); got != want {
			t.Errorf("kinds %v: profile's page\n%s\ntimeline's page\n%s", kinds, got, want)
		}
		if kinds == nil && (len(p.Timeline.Moments) != sidebarPageSize || p.Timeline.Next == "") {
			t.Errorf("first page of %d moments, next %q", len(p.Timeline.Moments), p.Timeline.Next)
		}
		if kinds != nil && (len(p.Timeline.Moments) != 11 || p.Timeline.Next != "") {
			t.Errorf("kind filter: %d moments, next %q", len(p.Timeline.Moments), p.Timeline.Next)
		}
	}
	if _, err := s.Profile(ctx, alice, "wmC1", []MomentKind{"nope"}); ErrorCode(err) != EINVALID {
		t.Errorf("unknown kind: %v", err)
	}
}

func pageSummary(p SidebarTimeline) string {
	var b strings.Builder
	for _, m := range p.Moments {
		fmt.Fprintf(&b, "%d %d %d %s %s %d %s %s %s %s %s\n", m.ID, m.UserID, m.IdentityID, m.IdentityKind, m.Kind,
			m.OccurredAt.UnixMicro(), m.Channel, m.EmployeeUserID, m.EmployeeName, m.Title, m.Detail)
	}
	return b.String() + "next " + p.Next
}

func TestSidebarCRMPhoneTagsGroup(t *testing.T) {
	db := pgtest.NewDB(t)
	s, api := sidebarWorld(t, db)
	ctx := context.Background()
	alice, dave := Viewer{CorpID: corp, UserID: "alice"}, Viewer{CorpID: corp, UserID: "dave"}

	rec, err := s.ConvertToCRM(ctx, alice, "wmC1", CRMInput{Kind: KindCRMLead, Name: "甲总"})
	if err != nil || rec.PublicID == "" {
		t.Fatalf("convert: %+v %v", rec, err)
	}
	if _, err := s.ConvertToCRM(ctx, alice, "wmC1", CRMInput{Kind: KindCRMLead}); ErrorCode(err) != ECONFLICT {
		t.Errorf("second lead: %v", err)
	}
	if _, err := s.ConvertToCRM(ctx, Viewer{CorpID: corp, UserID: "bob"}, "wmC1", CRMInput{Kind: KindCRMContact}); ErrorCode(err) != ENOTFOUND {
		t.Errorf("bob converts: %v", err)
	}
	u, err := s.ids.FindUserByIdentity(ctx, KindCRMLead, "", rec.PublicID)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := s.Profile(ctx, alice, "wmC1", nil)
	if u.ID != p.UserID || p.Timeline.Moments[0].Kind != "crm_created" || p.Timeline.Moments[0].EmployeeUserID != "alice" {
		t.Errorf("crm record not on the person: user %d vs %d, top moment %+v", u.ID, p.UserID, p.Timeline.Moments[0])
	}

	var phoneID int64
	for _, i := range p.Identities {
		if i.Kind == KindPhone {
			phoneID = i.ID
		}
	}
	if _, err := s.RevealPhone(ctx, alice, "wmC1", phoneID, "1.2.3.4"); ErrorCode(err) != EFORBIDDEN {
		t.Errorf("staff reveal: %v", err)
	}
	if ph, err := s.RevealPhone(ctx, dave, "wmC1", phoneID, "1.2.3.4"); err != nil || ph != "+8613912345678" {
		t.Errorf("admin reveal: %q %v", ph, err)
	}
	entries, _ := NewAuditService(db).List(ctx, AuditFilter{Action: "phone_revealed"})
	if len(entries) != 1 || entries[0].ActorID != "dave" {
		t.Errorf("audit %+v", entries)
	}

	groups, err := s.Tags(ctx, alice, "wmC1", api)
	if err != nil || len(groups) != 1 || !groups[0].Tags[0].On || groups[0].Tags[1].On {
		t.Fatalf("tags %+v %v", groups, err)
	}
	if groups, err = s.ToggleTag(ctx, alice, "wmC1", "t2", true, api); err != nil || !groups[0].Tags[1].On {
		t.Fatalf("toggle %+v %v", groups, err)
	}
	if len(api.marked) != 1 || api.marked[0][0][0] != "t2" {
		t.Errorf("mark_tag calls %v", api.marked)
	}
	if _, err := s.Tags(ctx, dave, "wmC1", api); ErrorCode(err) != EFORBIDDEN {
		t.Errorf("admin without relation tags: %v", err)
	}
	api.markErr = &wecom.APIError{Code: 40068, Msg: "invalid tagid"}
	if _, err := s.ToggleTag(ctx, alice, "wmC1", "t1", false, api); !wecom.IsAPIError(err, 40068) {
		t.Errorf("WeCom error swallowed: %v", err)
	}
	if tl, _ := s.Timeline(ctx, alice, "wmC1", TimelineQuery{Kinds: []MomentKind{"wecom_tagged"}}); len(tl.Moments) != 1 {
		t.Errorf("tag moments %+v", tl.Moments)
	}

	g, err := s.Group(ctx, alice, "wrG1", api)
	if err != nil || g.Members != 3 || g.Customers != 2 || g.KnownUsers != 1 || g.OwnerName != "张三" {
		t.Errorf("group %+v %v", g, err)
	}
	if _, err := s.Group(ctx, Viewer{CorpID: corp, UserID: "bob"}, "wrG1", api); ErrorCode(err) != ENOTFOUND {
		t.Errorf("bob group: %v", err)
	}
}
