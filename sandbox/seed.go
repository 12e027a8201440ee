package sandbox

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"
)

// SeedInput sizes demo or scale data. People are shared between roles:
// contacts are drawn from the wechat users; Overlap (0..1) is the share of
// fans and mini-program users picked among customers first.
type SeedInput struct {
	Departments         int     `json:"departments"`
	Employees           int     `json:"employees"`
	WeChatUsers         int     `json:"wechat_users"`
	ContactsPerEmployee int     `json:"contacts_per_employee"`
	Fans                int     `json:"fans"`
	MPUsers             int     `json:"mp_users"`
	Overlap             float64 `json:"overlap"`
	PhoneRatio          float64 `json:"phone_ratio"` // share of people with a phone; default 1/3
	Tags                bool    `json:"tags"`        // a small tag library, tags spread over relations
}

// SeedResult counts what was created.
type SeedResult struct {
	Departments int     `json:"departments"`
	Employees   int     `json:"employees"`
	WeChatUsers int     `json:"wechat_users"`
	Contacts    int     `json:"contacts"`
	Fans        int     `json:"fans"`
	MPUsers     int     `json:"mp_users"`
	Seconds     float64 `json:"seconds"`
}

const maxSeedPeople = 2_000_000

func (in *SeedInput) validate() error {
	switch {
	case in.Departments < 0 || in.Employees < 0 || in.WeChatUsers < 0 || in.ContactsPerEmployee < 0 || in.Fans < 0 || in.MPUsers < 0:
		return invalid("counts must not be negative")
	case in.WeChatUsers > maxSeedPeople || in.Employees*in.ContactsPerEmployee > maxSeedPeople:
		return invalid("at most %d people or contacts", maxSeedPeople)
	case in.Overlap < 0 || in.Overlap > 1 || in.PhoneRatio < 0 || in.PhoneRatio > 1:
		return invalid("overlap and phone_ratio must be within 0..1")
	case in.ContactsPerEmployee > 0 && in.WeChatUsers == 0:
		return invalid("contacts need wechat_users")
	}
	if in.PhoneRatio == 0 {
		in.PhoneRatio = 1.0 / 3
	}
	return nil
}

// Seed bulk-creates data without firing callbacks (as if it existed before
// the app was installed). It adds to what is there; ids stay deterministic
// for a given sandbox seed.
func (s *Sandbox) Seed(in SeedInput) (SeedResult, error) {
	if err := in.validate(); err != nil {
		return SeedResult{}, err
	}
	began := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	rng := rand.New(rand.NewPCG(s.w.Seed, s.w.Counter))
	s.w.Counter++
	depts, err := s.seedDepartments(in.Departments)
	if err != nil {
		return SeedResult{}, err
	}
	emps, err := s.seedEmployees(in.Employees, depts)
	if err != nil {
		return SeedResult{}, err
	}
	people := s.seedPeople(rng, in.WeChatUsers, in.PhoneRatio)
	customers := s.seedContacts(rng, emps, people, in.ContactsPerEmployee)
	if in.Tags {
		s.seedTags(rng)
	}
	fans := pickOverlapping(rng, people, customers, in.Fans, in.Overlap)
	s.seedFans(fans)
	mp := pickOverlapping(rng, people, customers, in.MPUsers, in.Overlap)
	for _, p := range mp {
		p.MPUser = true
	}
	s.touch()
	return SeedResult{Departments: len(depts), Employees: len(emps), WeChatUsers: len(people),
		Contacts: len(emps) * min(in.ContactsPerEmployee, len(people)), Fans: len(fans), MPUsers: len(mp),
		Seconds: time.Since(began).Seconds()}, nil
}

func (s *Sandbox) seedDepartments(n int) ([]*Department, error) {
	names := []string{"销售部", "市场部", "客服部", "运营部", "华东大区", "华南大区", "华北大区", "渠道部"}
	var out []*Department
	for i := range n {
		name := names[i%len(names)]
		if i >= len(names) {
			name += strconv.Itoa(i/len(names) + 1)
		}
		d, err := s.addDepartment(NewDepartment{Name: name, Order: 100 - i})
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

func (s *Sandbox) seedEmployees(n int, depts []*Department) ([]*Employee, error) {
	family := []string{"张", "王", "李", "赵", "刘", "陈", "杨", "黄", "周", "吴"}
	given := []string{"伟", "芳", "娜", "敏", "静", "磊", "洋", "艳", "勇", "军", "杰", "婷"}
	positions := []string{"销售顾问", "客户经理", "客服专员", "销售主管"}
	var out []*Employee
	base := len(s.w.Employees)
	for i := range n {
		k := base + i + 1
		dept := 1
		if len(depts) > 0 {
			dept = depts[i%len(depts)].ID
		}
		e, err := s.addEmployee(NewEmployee{UserID: fmt.Sprintf("emp%03d", k),
			Name: family[k%len(family)] + given[(k*7)%len(given)], Department: []int{dept},
			Position: positions[k%len(positions)], Mobile: fmt.Sprintf("1380000%04d", k),
			Leader: len(depts) > 0 && i < len(depts)})
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

func (s *Sandbox) seedPeople(rng *rand.Rand, n int, phoneRatio float64) []*Person {
	adjectives := []string{"快乐的", "安静的", "勇敢的", "温柔的", "聪明的", "可爱的", "阳光", "小"}
	nouns := []string{"熊猫", "橘子", "海豚", "向日葵", "星星", "咖啡", "云朵", "兔子", "鲸鱼", "柠檬"}
	out := make([]*Person, 0, n)
	s.w.People = growPeople(s.w.People, n)
	for i := range n {
		in := NewWeChatUser{Nickname: adjectives[rng.IntN(len(adjectives))] + nouns[rng.IntN(len(nouns))] + strconv.Itoa(i%1000),
			Gender: rng.IntN(3)}
		if rng.Float64() < phoneRatio {
			in.Phone = fmt.Sprintf("139%08d", rng.IntN(100_000_000))
		}
		out = append(out, s.newPerson(in))
	}
	return out
}

func growPeople(s []*Person, n int) []*Person {
	if cap(s)-len(s) >= n {
		return s
	}
	grown := make([]*Person, len(s), len(s)+n)
	copy(grown, s)
	return grown
}

// seedContacts gives each employee perEmployee customers, walking the people
// round-robin so relations spread evenly; it returns the customers.
func (s *Sandbox) seedContacts(rng *rand.Rand, emps []*Employee, people []*Person, perEmployee int) []*Person {
	if len(people) == 0 || perEmployee == 0 {
		return nil
	}
	perEmployee = min(perEmployee, len(people))
	states := []string{"", "", "ch_poster", "ch_store", "ch_live"}
	now := s.now().Unix()
	seen := make(map[*Person]bool, len(people))
	var customers []*Person
	next := 0
	for _, e := range emps {
		for range perEmployee {
			p := people[next%len(people)]
			next++
			in := AddCustomerInput{State: states[rng.IntN(len(states))], AddWay: 1 + rng.IntN(3)}
			f := s.addFollow(p, e, in)
			f.CreateTime = now - int64(rng.IntN(180*86400))
			if !seen[p] {
				seen[p] = true
				customers = append(customers, p)
			}
		}
	}
	return customers
}

// pickOverlapping picks n people, share overlap of them among customers.
func pickOverlapping(rng *rand.Rand, people, customers []*Person, n int, overlap float64) []*Person {
	n = min(n, len(people))
	want := min(int(float64(n)*overlap+0.5), len(customers))
	chosen := make(map[*Person]bool, n)
	out := make([]*Person, 0, n)
	for _, i := range rng.Perm(len(customers))[:want] {
		chosen[customers[i]] = true
		out = append(out, customers[i])
	}
	isCustomer := make(map[*Person]bool, len(customers))
	for _, c := range customers {
		isCustomer[c] = true
	}
	// Non-customers first, then anyone left, so overlap stays close to the request.
	for pass := 0; pass < 2 && len(out) < n; pass++ {
		for _, i := range rng.Perm(len(people)) {
			p := people[i]
			if len(out) == n {
				break
			}
			if !chosen[p] && (pass == 1 || !isCustomer[p]) {
				chosen[p] = true
				out = append(out, p)
			}
		}
	}
	return out
}

func (s *Sandbox) seedFans(fans []*Person) {
	now := s.now().Unix()
	for i, p := range fans {
		if p.Subscribed {
			continue
		}
		p.Subscribed, p.SubscribeTime, p.SubscribeScene = true, now-int64(len(fans)-i), "ADD_SCENE_SEARCH"
		s.w.fans = append(s.w.fans, p)
	}
	sortFans(s.w.fans)
}

// seedTags creates a small tag library and marks a third of the relations.
func (s *Sandbox) seedTags(rng *rand.Rand) {
	lib := map[string][]string{"客户等级": {"重要客户", "普通客户", "潜在客户"}, "来源渠道": {"门店", "直播", "海报"}}
	var ids []string
	for _, group := range []string{"客户等级", "来源渠道"} {
		req := addTagRequest{GroupName: group}
		for _, name := range lib[group] {
			req.Tag = append(req.Tag, struct {
				Name  string `json:"name"`
				Order int64  `json:"order"`
			}{Name: name})
		}
		g, _ := s.tagGroupFor(req)
		for _, t := range s.addTags(g, req) {
			ids = append(ids, t.ID)
		}
	}
	for _, f := range s.w.Follows {
		if rng.IntN(3) == 0 {
			f.TagIDs = append(f.TagIDs, ids[rng.IntN(len(ids))])
		}
	}
}
