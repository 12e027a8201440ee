package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/jmoiron/sqlx"

	"github.com/marketing-assistant/assistant/services"
	"github.com/marketing-assistant/assistant/services/pgtest"
	"github.com/marketing-assistant/assistant/services/pii"
	"github.com/marketing-assistant/assistant/web"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

type apiEnv struct {
	t    *testing.T
	e    *gin.Engine
	db   *sqlx.DB
	ids  *services.IdentityService
	keys *services.APIKeyService
}

// testActor creates and revokes the tests' keys.
var testActor = services.Actor{Kind: "system", ID: "cli:test"}

func newAPIEnv(t *testing.T) *apiEnv {
	t.Helper()
	db := pgtest.NewDB(t)
	key := make([]byte, 32)
	box, err := pii.NewBox(map[byte][]byte{1: key}, 1)
	if err != nil {
		t.Fatal(err)
	}
	e, err := web.NewEngine(web.Options{MaxBodyBytes: 8 << 20, Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))})
	if err != nil {
		t.Fatal(err)
	}
	env := &apiEnv{t: t, e: e, db: db, ids: services.NewIdentityService(db, box), keys: services.NewAPIKeyService(db)}
	registerAPI(e, env.ids, env.keys)
	return env
}

func (env *apiEnv) key(scopes ...string) string {
	_, secret, err := env.keys.CreateAPIKey(context.Background(), "test", scopes, testActor)
	if err != nil {
		env.t.Fatal(err)
	}
	return secret
}

func (env *apiEnv) do(method, path, key, body string, hdr ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	env.e.ServeHTTP(w, req)
	return w
}

func decode[T any](t *testing.T, w *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
		t.Fatalf("decode %q: %v", w.Body.String(), err)
	}
	return v
}

func wantProblem(t *testing.T, w *httptest.ResponseRecorder, status int, code string) {
	t.Helper()
	if w.Code != status || w.Header().Get("Content-Type") != "application/problem+json" {
		t.Fatalf("status %d %s, want %d problem+json: %s", w.Code, w.Header().Get("Content-Type"), status, w.Body)
	}
	if p := decode[web.Problem](t, w); p.Code != code {
		t.Fatalf("code %q, want %q", p.Code, code)
	}
}

func TestAPIAuth(t *testing.T) {
	env := newAPIEnv(t)
	w := env.do("GET", "/api/v1/marketing-users/1", "", "")
	wantProblem(t, w, 401, services.EUNAUTHORIZED)
	if w.Header().Get("WWW-Authenticate") == "" {
		t.Error("no WWW-Authenticate")
	}
	wantProblem(t, env.do("GET", "/api/v1/marketing-users/1", "mak_nope", ""), 401, services.EUNAUTHORIZED)
	reader := env.key(services.ScopeUsersRead)
	wantProblem(t, env.do("POST", "/api/v1/identities", reader, `{"records":[]}`), 403, services.EFORBIDDEN)
	wantProblem(t, env.do("GET", "/api/v1/marketing-users/1", reader, ""), 404, services.ENOTFOUND)
	writer := env.key(services.ScopeIdentitiesWrite)
	wantProblem(t, env.do("GET", "/api/v1/marketing-users?phone=13912345678", writer, ""), 403, services.EFORBIDDEN)
	// revoked keys stop working
	ks, _ := env.keys.APIKeys(context.Background())
	if err := env.keys.RevokeAPIKey(context.Background(), ks[0].ID, testActor); err != nil {
		t.Fatal(err)
	}
	wantProblem(t, env.do("POST", "/api/v1/identities", writer, `{"records":[]}`), 401, services.EUNAUTHORIZED)
	if _, _, err := env.keys.CreateAPIKey(context.Background(), "x", []string{"admin"}, testActor); services.ErrorCode(err) != services.EINVALID {
		t.Fatalf("unknown scope accepted: %v", err)
	}
}

func TestAPIPushPerRecord(t *testing.T) {
	env := newAPIEnv(t)
	writer := env.key(services.ScopeIdentitiesWrite)
	body := `{"records":[
 {"kind":"crm_lead","id":"L1","phone":"139 1234 5678","name":"张三","company":"甲公司","occurred_at":"2026-05-01T10:00:00+08:00"},
 {"kind":"crm_lead","id":5},
 {"kind":"crm_opportunity","id":"O1"},
 {"kind":"crm_contact","id":"C1","phone":"12345"},
 {"kind":"member","id":"M1","source":"shop","phone":"13912345678","phone_verified":true,"member_level":"gold"},
 {"kind":"crm_lead","id":"L2","phone":"13800138000"},
 "not an object",
 {"kind":"crm_contact","id":"C2","unionid":"oU1","colour":"red"}
]}`
	w := env.do("POST", "/api/v1/identities", writer, body)
	if w.Code != 200 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	ans := decode[batchAnswer](t, w)
	want := []struct{ status, outcome, code string }{
		{"linked", "created", ""}, {"rejected", "", "invalid"}, {"rejected", "", "invalid"}, {"rejected", "", "invalid"},
		{"linked", "attached", ""}, {"linked", "created", ""}, {"rejected", "", "invalid"}, {"rejected", "", "invalid"},
	}
	if len(ans.Results) != len(want) || ans.Accepted != 3 || ans.Rejected != 5 {
		t.Fatalf("answer %+v", ans)
	}
	for i, w := range want {
		r := ans.Results[i]
		if r.Index != i || r.Status != w.status || r.Outcome != w.outcome || r.Code != w.code || (r.Status == "rejected" && r.Reason == "") {
			t.Errorf("record %d: %+v, want %+v", i, r, w)
		}
	}
	if ans.Results[0].MarketingUserID != ans.Results[4].MarketingUserID {
		t.Error("member with the lead's phone not linked to the lead")
	}
	if ans.Results[3].Fields["phone"] == "" || len(ans.Results[5].Blocked) != 1 || ans.Results[5].Blocked[0] != "phone" {
		t.Errorf("reasons: %+v %+v", ans.Results[3], ans.Results[5])
	}
	wantProblem(t, env.do("POST", "/api/v1/identities", writer, `{"records":`), 422, services.EINVALID)
}

func TestAPIBatchLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("links 1,000 records")
	}
	env := newAPIEnv(t)
	writer := env.key(services.ScopeIdentitiesWrite)
	recs := make([]string, maxBatch+2)
	for i := range recs {
		recs[i] = fmt.Sprintf(`{"kind":"crm_account","id":"A%d"}`, i)
	}
	w := env.do("POST", "/api/v1/identities", writer, "["+strings.Join(recs, ",")+"]")
	ans := decode[batchAnswer](t, w)
	if ans.Accepted != maxBatch || ans.Rejected != 2 || ans.Results[maxBatch].Code != services.ETOOLARGE {
		t.Fatalf("accepted %d rejected %d last %+v", ans.Accepted, ans.Rejected, ans.Results[maxBatch])
	}
}

func TestAPIIdempotency(t *testing.T) {
	env := newAPIEnv(t)
	writer := env.key(services.ScopeIdentitiesWrite)
	body := `{"records":[{"kind":"crm_lead","id":"L9","phone":"13912340009"}]}`
	w1 := env.do("POST", "/api/v1/identities", writer, body, "Idempotency-Key", "k1")
	env.db.MustExec(`UPDATE identities SET ev_ref = 'changed'`) // a replay must not run again
	w2 := env.do("POST", "/api/v1/identities", writer, body, "Idempotency-Key", "k1")
	if w1.Code != 200 || w2.Body.String() != w1.Body.String() || w2.Header().Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay: %d %s / %s", w1.Code, w1.Body, w2.Body)
	}
	var n int
	env.db.Get(&n, `SELECT count(*) FROM identities WHERE ev_ref = 'changed'`)
	if n != 2 {
		t.Fatalf("replay re-ran the link")
	}
	wantProblem(t, env.do("POST", "/api/v1/identities", writer, `{"records":[]}`, "Idempotency-Key", "k1"), 409, services.ECONFLICT)
	// without the header every request runs
	w3 := env.do("POST", "/api/v1/identities", writer, body)
	if r := decode[batchAnswer](t, w3); r.Results[0].Outcome != "attached" {
		t.Fatalf("second push %+v", r)
	}
}

func TestAPILookupsAndMasking(t *testing.T) {
	env := newAPIEnv(t)
	ctx := context.Background()
	writer := env.key(services.ScopeIdentitiesWrite)
	reader := env.key(services.ScopeUsersRead)
	piiReader := env.key(services.ScopeUsersRead, services.ScopePIIRead)
	env.do("POST", "/api/v1/identities", writer, `[{"kind":"crm_lead","id":"L1","phone":"13912345678","name":"李四"}]`)
	fan, err := env.ids.Link(ctx, services.Observation{Source: "oa", Identities: []services.IdentityInput{
		{Kind: services.KindUnionID, Key: "oUnion1"}, {Kind: services.KindOAOpenID, Scope: "wxoa1", Key: "oOpen1"},
		{Kind: services.KindExternalUserID, Scope: "ww1", Key: "wmExt1"}},
		Moments: []services.MomentInput{{Identity: 1, Kind: "oa_subscribed"}, {Identity: 2, Kind: "wecom_added"}}})
	if err != nil {
		t.Fatal(err)
	}
	u := decode[userJSON](t, env.do("GET", "/api/v1/marketing-users?phone=139-1234-5678", reader, ""))
	if len(u.Identities) != 2 {
		t.Fatalf("user %+v", u)
	}
	for _, i := range u.Identities {
		if i.Kind == "phone" && i.Value != "139****5678" {
			t.Fatalf("phone not masked: %q", i.Value)
		}
		if i.Why == "" {
			t.Error("no why")
		}
	}
	if !strings.Contains(env.do("GET", fmt.Sprintf("/api/v1/marketing-users/%d", u.ID), piiReader, "").Body.String(), "+8613912345678") {
		t.Fatal("pii:read should see the phone")
	}
	if strings.Contains(env.do("GET", fmt.Sprintf("/api/v1/marketing-users/%d", u.ID), reader, "").Body.String(), "13912345678") {
		t.Fatal("phone leaked without pii:read")
	}
	for _, q := range []string{"unionid=oUnion1", "external_userid=wmExt1", "external_userid=wmExt1&corpid=ww1", "openid=oOpen1&appid=wxoa1"} {
		if got := decode[userJSON](t, env.do("GET", "/api/v1/marketing-users?"+q, reader, "")); got.ID != fan.UserID {
			t.Errorf("%s: user %d, want %d", q, got.ID, fan.UserID)
		}
	}
	wantProblem(t, env.do("GET", "/api/v1/marketing-users?openid=oOpen1", reader, ""), 422, services.EINVALID)
	wantProblem(t, env.do("GET", "/api/v1/marketing-users?phone=abc", reader, ""), 422, services.EINVALID)
	wantProblem(t, env.do("GET", "/api/v1/marketing-users?unionid=nobody", reader, ""), 404, services.ENOTFOUND)

	// a merged id answers its survivor
	m, err := env.ids.Merge(ctx, u.ID, fan.UserID, "same person", "test")
	if err != nil {
		t.Fatal(err)
	}
	got := decode[userJSON](t, env.do("GET", fmt.Sprintf("/api/v1/marketing-users/%d", m.Absorbed), reader, ""))
	if got.ID != m.Survivor || got.RequestedID != m.Absorbed || len(got.Identities) != 5 {
		t.Fatalf("absorbed: %+v", got)
	}
	// moments, with cursor and kind
	type page struct {
		UserID  int64             `json:"marketing_user_id"`
		Moments []services.Moment `json:"moments"`
		Next    string            `json:"next_cursor"`
	}
	p1 := decode[page](t, env.do("GET", fmt.Sprintf("/api/v1/marketing-users/%d/moments?limit=2", m.Absorbed), reader, ""))
	if p1.UserID != m.Survivor || len(p1.Moments) != 2 || p1.Next == "" {
		t.Fatalf("page 1 %+v", p1)
	}
	p2 := decode[page](t, env.do("GET", fmt.Sprintf("/api/v1/marketing-users/%d/moments?limit=2&cursor=%s", m.Survivor, p1.Next), reader, ""))
	if len(p2.Moments) == 0 || p2.Moments[0].ID == p1.Moments[1].ID {
		t.Fatalf("page 2 %+v", p2)
	}
	pk := decode[page](t, env.do("GET", fmt.Sprintf("/api/v1/marketing-users/%d/moments?kind=wecom_added,oa_subscribed", m.Survivor), reader, ""))
	if len(pk.Moments) != 2 {
		t.Fatalf("kind filter %+v", pk)
	}
	wantProblem(t, env.do("GET", fmt.Sprintf("/api/v1/marketing-users/%d/moments?kind=nope", m.Survivor), reader, ""), 422, services.EINVALID)
	wantProblem(t, env.do("GET", fmt.Sprintf("/api/v1/marketing-users/%d/moments?cursor=%%21", m.Survivor), reader, ""), 422, services.EINVALID)
}

// TestOpenAPIInStep walks the registered /api/v1 routes and the document's
// paths: each route is documented and each documented operation exists.
func TestOpenAPIInStep(t *testing.T) {
	e := gin.New()
	registerAPI(e, nil, nil)
	routes := map[string]bool{}
	param := regexp.MustCompile(`:([a-z_]+)`)
	for _, r := range e.Routes() {
		if p, ok := strings.CutPrefix(r.Path, "/api/v1"); ok {
			routes[strings.ToLower(r.Method)+" "+param.ReplaceAllString(p, "{$1}")] = true
		}
	}
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openAPIDoc, &doc); err != nil || !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("document: %v %q", err, doc.OpenAPI)
	}
	documented := map[string]bool{}
	for p, ops := range doc.Paths {
		for m := range ops {
			documented[m+" "+p] = true
		}
	}
	var missing, extra []string
	for r := range routes {
		if !documented[r] {
			missing = append(missing, r)
		}
	}
	for d := range documented {
		if !routes[d] {
			extra = append(extra, d)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing)+len(extra) > 0 || len(routes) == 0 {
		t.Fatalf("OpenAPI out of step: undocumented routes %v, documented but not routed %v", missing, extra)
	}
	w := httptest.NewRecorder()
	e.ServeHTTP(w, httptest.NewRequest("GET", "/api/v1/openapi.json", nil))
	if w.Code != 200 || w.Body.Len() != len(openAPIDoc) {
		t.Fatalf("served document: %d", w.Code)
	}
}

// TestAPIIdempotencyKeysExpire: after a day a key is free again (a new body
// runs instead of a 409), and a reservation left by a request that never
// finished stops blocking its key after ten minutes.
func TestAPIIdempotencyKeysExpire(t *testing.T) {
	env := newAPIEnv(t)
	writer := env.key(services.ScopeIdentitiesWrite)
	first := `{"records":[{"kind":"crm_lead","id":"L21","phone":"13912340021"}]}`
	other := `{"records":[{"kind":"crm_lead","id":"L22","phone":"13912340022"}]}`
	if w := env.do("POST", "/api/v1/identities", writer, first, "Idempotency-Key", "day"); w.Code != 200 {
		t.Fatalf("first: %d %s", w.Code, w.Body)
	}
	wantProblem(t, env.do("POST", "/api/v1/identities", writer, other, "Idempotency-Key", "day"), 409, services.ECONFLICT)
	env.db.MustExec(`UPDATE api_idempotency SET created_at = now() - interval '25 hours' WHERE idem_key = 'day'`)
	w := env.do("POST", "/api/v1/identities", writer, other, "Idempotency-Key", "day")
	if w.Code != 200 || w.Header().Get("Idempotent-Replayed") == "true" {
		t.Fatalf("expired key: %d replayed=%q %s", w.Code, w.Header().Get("Idempotent-Replayed"), w.Body)
	}
	if r := decode[batchAnswer](t, w); r.Accepted != 1 || r.Results[0].Outcome != "created" {
		t.Fatalf("expired key did not run the new request: %+v", r)
	}
	// a reservation whose request died mid-way
	env.db.MustExec(`INSERT INTO api_idempotency (api_key_id, idem_key, request_hash, created_at)
SELECT api_key_id, 'stuck', '\x00', now() - interval '11 minutes' FROM api_idempotency LIMIT 1`)
	if w := env.do("POST", "/api/v1/identities", writer, first, "Idempotency-Key", "stuck"); w.Code != 200 {
		t.Fatalf("abandoned reservation still blocks: %d %s", w.Code, w.Body)
	}
	env.db.MustExec(`INSERT INTO api_idempotency (api_key_id, idem_key, request_hash)
SELECT api_key_id, 'running', '\x00' FROM api_idempotency LIMIT 1`)
	wantProblem(t, env.do("POST", "/api/v1/identities", writer, first, "Idempotency-Key", "running"), 409, services.ECONFLICT)
}
