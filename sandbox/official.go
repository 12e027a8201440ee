package sandbox

import (
	"net/http"
	"sort"
)

// officialHost is api.weixin.qq.com: Official Account and mini-program APIs.
func (s *Sandbox) officialHost() http.Handler {
	r := map[string]route{}
	return &apiHost{s: s, name: "official", routes: r}
}

// sortFans orders fans by subscription time, then id, for user/get paging.
func sortFans(fans []*Person) {
	sort.SliceStable(fans, func(i, j int) bool {
		if fans[i].SubscribeTime != fans[j].SubscribeTime {
			return fans[i].SubscribeTime < fans[j].SubscribeTime
		}
		return fans[i].ID < fans[j].ID
	})
}
