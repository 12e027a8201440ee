package services

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/jmoiron/sqlx"
)

// dsu is a small union-find for the tests' independent computation.
type dsu map[string]string

func (d dsu) find(x string) string {
	if _, ok := d[x]; !ok {
		d[x] = x
	}
	for d[x] != x {
		d[x] = d[d[x]]
		x = d[x]
	}
	return x
}

func (d dsu) union(a, b string) { d[d.find(a)] = d.find(b) }

// keyName names an input as the tests compare it: kind/scope/key.
func keyName(in IdentityInput) string { return string(in.Kind) + "/" + in.Scope + "/" + in.Key }

// randomObservations draws n observations of 1..3 keys from a pool; with
// unionids, some keys are unionids (so the one-unionid rule refuses merges).
func randomObservations(rng *rand.Rand, n, pool int, unionids bool) []Observation {
	key := func() IdentityInput {
		k := rng.IntN(pool)
		switch k % 5 {
		case 0:
			return IdentityInput{Kind: KindPhone, Key: fmt.Sprintf("1391%07d", k)}
		case 1:
			return IdentityInput{Kind: KindCRMLead, Key: fmt.Sprintf("L%d", k)}
		case 2:
			if unionids {
				return IdentityInput{Kind: KindUnionID, Key: fmt.Sprintf("u%d", k)}
			}
			return IdentityInput{Kind: KindMember, Scope: "shop", Key: fmt.Sprintf("M%d", k)}
		case 3:
			return IdentityInput{Kind: KindOAOpenID, Scope: "wxoa", Key: fmt.Sprintf("o%d", k)}
		default:
			return IdentityInput{Kind: KindCRMContact, Key: fmt.Sprintf("C%d", k)}
		}
	}
	out := make([]Observation, n)
	for i := range out {
		o := Observation{Source: "prop", Ref: fmt.Sprint(i)}
		for range 1 + rng.IntN(3) {
			o.Identities = append(o.Identities, key())
		}
		out[i] = o
	}
	return out
}

// components computes the connected components of the observations' keys.
func components(obs []Observation, s *IdentityService) dsu {
	d := dsu{}
	for _, o := range obs {
		first := canonical(s, o.Identities[0])
		d.find(first)
		for _, in := range o.Identities[1:] {
			d.union(first, canonical(s, in))
		}
	}
	return d
}

// canonical names an input by its stored key (phones by blind index).
func canonical(s *IdentityService, in IdentityInput) string {
	if in.Kind == KindPhone {
		k, _ := s.PhoneKey(in.Key)
		return "phone//" + k
	}
	return keyName(in)
}

// partition reads the users' key sets from the database, as sorted strings.
func partition(t *testing.T, db *sqlx.DB) (byKey map[string]int64, groups []string) {
	t.Helper()
	var rows []struct {
		User int64  `db:"user_id"`
		Key  string `db:"k"`
	}
	if err := db.Select(&rows, `SELECT user_id, kind || '/' || scope || '/' || key AS k FROM identities ORDER BY k`); err != nil {
		t.Fatal(err)
	}
	byKey = map[string]int64{}
	by := map[int64][]string{}
	for _, r := range rows {
		if _, dup := byKey[r.Key]; dup {
			t.Fatalf("key %s in two users", r.Key)
		}
		byKey[r.Key] = r.User
		by[r.User] = append(by[r.User], r.Key)
	}
	for _, ks := range by {
		groups = append(groups, strings.Join(ks, ","))
	}
	sort.Strings(groups)
	return byKey, groups
}

func expectedGroups(d dsu) []string {
	by := map[string][]string{}
	for k := range d {
		by[d.find(k)] = append(by[d.find(k)], k)
	}
	var groups []string
	for _, ks := range by {
		sort.Strings(ks)
		groups = append(groups, strings.Join(ks, ","))
	}
	sort.Strings(groups)
	return groups
}

func noCaps(t *testing.T, db *sqlx.DB) {
	t.Helper()
	db.MustExec(`UPDATE identity_settings SET max_phones = 100000, max_identities = 100000`)
}

// TestLinkProperty: with no rule refusing, the users are exactly the
// connected components, whatever the order of the observations.
func TestLinkProperty(t *testing.T) {
	ctx := context.Background()
	for seed := range uint64(3) {
		rng := rand.New(rand.NewPCG(seed, 42))
		all := randomObservations(rng, 120, 150, false)
		var first []string
		for run := range 2 {
			s, db := newIdentities(t)
			noCaps(t, db)
			order := rng.Perm(len(all))
			for _, i := range order {
				if _, err := s.Link(ctx, all[i]); err != nil {
					t.Fatal(err)
				}
			}
			_, got := partition(t, db)
			want := expectedGroups(components(all, s))
			if strings.Join(got, "|") != strings.Join(want, "|") {
				t.Fatalf("seed %d run %d: users differ from components\n got %v\nwant %v", seed, run, got, want)
			}
			if run == 0 {
				first = got
			} else if strings.Join(got, "|") != strings.Join(first, "|") {
				t.Fatalf("seed %d: order changed the result", seed)
			}
			var conflicts int
			db.Get(&conflicts, `SELECT count(*) FROM identity_conflicts`)
			if conflicts != 0 {
				t.Fatalf("%d conflicts without rules", conflicts)
			}
			checkInvariants(t, db)
		}
	}
}

// TestLinkPropertyWithRules: with the default rules (one unionid, three
// phones, 50 identities) users refine the components, every user obeys the
// rules, and inside each component the users are tied together by logged
// conflicts: every refusal is recorded.
func TestLinkPropertyWithRules(t *testing.T) {
	ctx := context.Background()
	for seed := range uint64(3) {
		rng := rand.New(rand.NewPCG(seed, 7))
		all := randomObservations(rng, 150, 120, true)
		s, db := newIdentities(t)
		for _, o := range all {
			if _, err := s.Link(ctx, o); err != nil {
				t.Fatal(err)
			}
		}
		byKey, _ := partition(t, db)
		comp := components(all, s)
		// refinement: one user never spans two components
		userComp := map[int64]string{}
		for k, u := range byKey {
			c := comp.find(k)
			if prev, ok := userComp[u]; ok && prev != c {
				t.Fatalf("user %d spans two components", u)
			}
			userComp[u] = c
		}
		// the rules hold
		var broken int
		db.Get(&broken, `SELECT count(*) FROM (SELECT user_id FROM identities GROUP BY user_id
HAVING count(*) FILTER (WHERE kind = 'unionid') > 1 OR count(*) FILTER (WHERE kind = 'phone') > 3 OR count(*) > 50) x`)
		if broken != 0 {
			t.Fatalf("%d users break a rule", broken)
		}
		// each component's users are connected by conflict rows
		var edges []struct {
			A int64 `db:"a"`
			B int64 `db:"b"`
		}
		if err := db.Select(&edges, `SELECT identity_resolve(user_a) AS a, identity_resolve(user_b) AS b FROM identity_conflicts`); err != nil {
			t.Fatal(err)
		}
		uf := dsu{}
		for _, e := range edges {
			uf.union(fmt.Sprint(e.A), fmt.Sprint(e.B))
		}
		compRoot := map[string]string{}
		for u, c := range userComp {
			r := uf.find(fmt.Sprint(u))
			if prev, ok := compRoot[c]; ok && prev != r {
				t.Fatalf("seed %d: users of one component apart without a logged conflict", seed)
			}
			compRoot[c] = r
		}
		checkInvariants(t, db)
	}
}

// TestLinkConcurrent links overlapping observations from many goroutines over
// several connections: no key ends in two users, nothing is lost, and the
// users are still exactly the components.
func TestLinkConcurrent(t *testing.T) {
	ctx := context.Background()
	s, db := newIdentities(t)
	noCaps(t, db)
	db.SetMaxOpenConns(8)
	rng := rand.New(rand.NewPCG(1, 2))
	all := randomObservations(rng, 400, 120, false)
	var wg sync.WaitGroup
	errs := make(chan error, len(all))
	work := make(chan Observation)
	for range 8 {
		wg.Go(func() {
			for o := range work {
				if _, err := s.Link(ctx, o); err != nil {
					errs <- err
				}
			}
		})
	}
	for _, o := range all {
		work <- o
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	byKey, got := partition(t, db)
	comp := components(all, s)
	for k := range comp {
		if _, ok := byKey[k]; !ok {
			t.Fatalf("key %s lost", k)
		}
	}
	if want := expectedGroups(comp); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("users differ from components after concurrent links\n got %v\nwant %v", got, want)
	}
	checkInvariants(t, db)
}
