package sandbox

import (
	"strings"
)

// world is everything the sandbox knows. The exported fields are the JSON
// snapshot; the unexported maps are indexes rebuilt by reindex. All access
// goes through Sandbox.mu.
type world struct {
	Seed      uint64 `json:"seed"`
	Counter   uint64 `json:"counter"`
	PersonSeq int    `json:"person_seq"`
	MsgSeq    int64  `json:"msg_seq"`

	Departments []*Department       `json:"departments"`
	Employees   []*Employee         `json:"employees"`
	People      []*Person           `json:"people"`
	Follows     []*Follow           `json:"follows"`
	TagGroups   []*TagGroup         `json:"tag_groups"`
	ContactWays []*ContactWay       `json:"contact_ways"`
	GroupChats  []*GroupChat        `json:"group_chats"`
	QRCodes     map[string]*QRCode  `json:"qr_codes"`
	Tokens      map[string]*token   `json:"tokens"`
	Tickets     map[string]*ticket  `json:"tickets"`
	Codes       map[string]*code    `json:"codes"`
	Welcome     map[string]*welcome `json:"welcome_codes"`
	Callbacks   []*CallbackRecord   `json:"callbacks"`
	Outbox      []*OutboxEntry      `json:"outbox"`
	Faults      []*Fault            `json:"faults"`
	Sidebar     SidebarContext      `json:"sidebar"`
	OACampaigns *oaCampaigns        `json:"oa_campaigns,omitempty"` // oa_qrcode.go, oa_template.go

	// LicenceMode is "thirdparty" when interface licences apply (licences.go).
	LicenceMode string `json:"licence_mode,omitempty"`

	// MassMsgs is the 企业群发 state (massmsg.go), created on first use.
	MassMsgs *massMsgs `json:"mass_msgs,omitempty"`

	deptByID   map[int]*Department
	empByID    map[string]*Employee // lower-cased userid
	personByID map[string]*Person
	byUnion    map[string]*Person
	byOAOpenID map[string]*Person
	byMPOpenID map[string]*Person
	byExt      map[string]*Person
	followsBy  map[string][]*Follow // lower-cased userid → relations in add order
	followsOf  map[string][]*Follow // external_userid → relations
	tagByID    map[string]*Tag
	groupByID  map[string]*TagGroup
	wayByID    map[string]*ContactWay
	chatByID   map[string]*GroupChat
	fans       []*Person // subscribed, in subscription order
}

// Department is a WeCom department; the root has id 1.
type Department struct {
	ID       int      `json:"id"`
	Name     string   `json:"name"`
	NameEn   string   `json:"name_en,omitempty"`
	ParentID int      `json:"parentid"`
	Order    int      `json:"order"`
	Leaders  []string `json:"department_leader"`
}

// Employee is a WeCom member of the corp.
type Employee struct {
	UserID          string   `json:"userid"`
	Name            string   `json:"name"`
	Department      []int    `json:"department"`
	Position        string   `json:"position"`
	Mobile          string   `json:"mobile"`
	Gender          string   `json:"gender"` // a string on the wire: "0" "1" "2"
	Email           string   `json:"email"`
	Status          int      `json:"status"` // 1 active, 2 disabled, 4 not activated, 5 left
	CustomerContact bool     `json:"customer_contact"`
	OpenUserID      string   `json:"open_userid"`
	Avatar          string   `json:"avatar"`
	Licence         *Licence `json:"licence,omitempty"` // nil: both accounts (licences.go)
}

// Person is a WeChat user: a potential customer, OA fan and mini-program user.
type Person struct {
	ID             string `json:"id"`
	Nickname       string `json:"nickname"`
	Phone          string `json:"phone,omitempty"`
	Gender         int    `json:"gender"`
	Avatar         string `json:"avatar"`
	UnionID        string `json:"unionid"`
	OAOpenID       string `json:"oa_openid"`
	MPOpenID       string `json:"mp_openid"`
	CorpOpenID     string `json:"corp_openid"`     // what WeCom OAuth returns for a non-member
	ExternalUserID string `json:"external_userid"` // fixed per (corp, person), as on the real server
	Subscribed     bool   `json:"subscribed"`
	SubscribeTime  int64  `json:"subscribe_time,omitempty"`
	SubscribeScene string `json:"subscribe_scene,omitempty"`
	QRScene        int64  `json:"qr_scene,omitempty"`
	QRSceneStr     string `json:"qr_scene_str,omitempty"`
	MPUser         bool   `json:"mp_user"`
}

// Follow is one (employee, customer) relation of 客户联系.
type Follow struct {
	UserID          string   `json:"userid"`
	ExternalUserID  string   `json:"external_userid"`
	Remark          string   `json:"remark"`
	Description     string   `json:"description"`
	CreateTime      int64    `json:"createtime"`
	TagIDs          []string `json:"tag_id"`
	RemarkCorpName  string   `json:"remark_corp_name,omitempty"`
	RemarkMobiles   []string `json:"remark_mobiles,omitempty"`
	OperUserID      string   `json:"oper_userid"`
	AddWay          int      `json:"add_way"`
	State           string   `json:"state,omitempty"`
	CustomerDeleted bool     `json:"customer_deleted,omitempty"` // del_follow_user: one-way, still readable
}

// TagGroup is a group of corp customer tags.
type TagGroup struct {
	GroupID    string `json:"group_id"`
	GroupName  string `json:"group_name"`
	CreateTime int64  `json:"create_time"`
	Order      int64  `json:"order"`
	Tags       []*Tag `json:"tag"`
}

// Tag is a corp customer tag (企业标签).
type Tag struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	CreateTime int64  `json:"create_time"`
	Order      int64  `json:"order"`
	group      *TagGroup
}

// ContactWay is a 「联系我」 configuration.
type ContactWay struct {
	ConfigID      string   `json:"config_id"`
	Type          int      `json:"type"`
	Scene         int      `json:"scene"`
	Style         int      `json:"style,omitempty"`
	Remark        string   `json:"remark"`
	SkipVerify    bool     `json:"skip_verify"`
	State         string   `json:"state"`
	User          []string `json:"user"`
	Party         []int    `json:"party"`
	IsTemp        bool     `json:"is_temp"`
	ExpiresIn     int      `json:"expires_in,omitempty"`
	ChatExpiresIn int      `json:"chat_expires_in,omitempty"`
	UnionID       string   `json:"unionid,omitempty"`
	QRCode        string   `json:"qr_code,omitempty"`
	CreateTime    int64    `json:"create_time"`
}

// GroupChat is a customer group (客户群).
type GroupChat struct {
	ChatID        string        `json:"chat_id"`
	Name          string        `json:"name"`
	Owner         string        `json:"owner"`
	CreateTime    int64         `json:"create_time"`
	Notice        string        `json:"notice"`
	Members       []*ChatMember `json:"member_list"`
	Admins        []string      `json:"admin_list"`
	MemberVersion string        `json:"member_version"`
	Status        int           `json:"status"`
	Dismissed     bool          `json:"dismissed,omitempty"`
}

// ChatMember is one member of a customer group: type 1 employee, 2 customer.
type ChatMember struct {
	UserID        string `json:"userid"`
	Type          int    `json:"type"`
	JoinTime      int64  `json:"join_time"`
	JoinScene     int    `json:"join_scene"`
	Invitor       string `json:"invitor,omitempty"`
	GroupNickname string `json:"group_nickname"`
	Name          string `json:"name"`
}

// QRCode is an OA parametric QR ticket and its scene.
type QRCode struct {
	Ticket     string `json:"ticket"`
	SceneID    int64  `json:"scene_id,omitempty"`
	SceneStr   string `json:"scene_str,omitempty"`
	ExpireAt   int64  `json:"expire_at,omitempty"` // 0 = permanent
	ActionName string `json:"action_name"`
}

// SidebarContext is what the ww shim reports as the open chat.
type SidebarContext struct {
	Entry          string `json:"entry"` // single_chat_tools, group_chat_tools, contact_profile, normal
	UserID         string `json:"userid"`
	ExternalUserID string `json:"external_userid,omitempty"`
	ChatID         string `json:"chat_id,omitempty"`
}

func newWorld(seed uint64) *world {
	w := &world{Seed: seed}
	w.reindex()
	return w
}

// reindex rebuilds every index from the exported slices (after a snapshot load).
func (w *world) reindex() {
	w.ensureMaps()
	w.deptByID = map[int]*Department{}
	for _, d := range w.Departments {
		w.deptByID[d.ID] = d
	}
	w.empByID = map[string]*Employee{}
	for _, e := range w.Employees {
		w.empByID[strings.ToLower(e.UserID)] = e
	}
	w.indexPeople()
	w.followsBy, w.followsOf = map[string][]*Follow{}, map[string][]*Follow{}
	for _, f := range w.Follows {
		w.indexFollow(f)
	}
	w.tagByID, w.groupByID = map[string]*Tag{}, map[string]*TagGroup{}
	for _, g := range w.TagGroups {
		w.indexTagGroup(g)
	}
	w.wayByID = map[string]*ContactWay{}
	for _, c := range w.ContactWays {
		w.wayByID[c.ConfigID] = c
	}
	w.chatByID = map[string]*GroupChat{}
	for _, c := range w.GroupChats {
		w.chatByID[c.ChatID] = c
	}
}

func (w *world) ensureMaps() {
	if w.QRCodes == nil {
		w.QRCodes = map[string]*QRCode{}
	}
	if w.Tokens == nil {
		w.Tokens = map[string]*token{}
	}
	if w.Tickets == nil {
		w.Tickets = map[string]*ticket{}
	}
	if w.Codes == nil {
		w.Codes = map[string]*code{}
	}
	if w.Welcome == nil {
		w.Welcome = map[string]*welcome{}
	}
}

func (w *world) indexPeople() {
	n := len(w.People)
	w.personByID = make(map[string]*Person, n)
	w.byUnion = make(map[string]*Person, n)
	w.byOAOpenID = make(map[string]*Person, n)
	w.byMPOpenID = make(map[string]*Person, n)
	w.byExt = make(map[string]*Person, n)
	w.fans = nil
	for _, p := range w.People {
		w.indexPerson(p)
	}
	sortFans(w.fans)
}

func (w *world) indexPerson(p *Person) {
	w.personByID[p.ID] = p
	w.byUnion[p.UnionID] = p
	w.byOAOpenID[p.OAOpenID] = p
	w.byMPOpenID[p.MPOpenID] = p
	w.byExt[p.ExternalUserID] = p
	if p.Subscribed {
		w.fans = append(w.fans, p)
	}
}

func (w *world) indexFollow(f *Follow) {
	k := strings.ToLower(f.UserID)
	w.followsBy[k] = append(w.followsBy[k], f)
	w.followsOf[f.ExternalUserID] = append(w.followsOf[f.ExternalUserID], f)
}

func (w *world) indexTagGroup(g *TagGroup) {
	w.groupByID[g.GroupID] = g
	for _, t := range g.Tags {
		t.group = g
		w.tagByID[t.ID] = t
	}
}

func (w *world) employee(userID string) *Employee {
	return w.empByID[strings.ToLower(userID)]
}

// follow finds the relation of one employee with one customer.
func (w *world) follow(userID, externalUserID string) *Follow {
	for _, f := range w.followsOf[externalUserID] {
		if strings.EqualFold(f.UserID, userID) {
			return f
		}
	}
	return nil
}

// removeFollow deletes a relation from the slices and indexes.
func (w *world) removeFollow(f *Follow) {
	w.Follows = without(w.Follows, f)
	k := strings.ToLower(f.UserID)
	w.followsBy[k] = without(w.followsBy[k], f)
	w.followsOf[f.ExternalUserID] = without(w.followsOf[f.ExternalUserID], f)
}

func without[T comparable](s []T, v T) []T {
	for i, x := range s {
		if x == v {
			return append(s[:i:i], s[i+1:]...)
		}
	}
	return s
}

// person resolves a control-API reference: person id, unionid, either openid or external_userid.
func (w *world) person(ref string) *Person {
	for _, m := range []map[string]*Person{w.personByID, w.byUnion, w.byOAOpenID, w.byMPOpenID, w.byExt} {
		if p := m[ref]; p != nil {
			return p
		}
	}
	return nil
}
