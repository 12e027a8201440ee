package sandbox

import (
	"slices"
	"unicode/utf8"
)

// maxCorpTags is the per-corp tag limit (40126 beyond it).
const maxCorpTags = 3000

type tagBody struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	CreateTime int64  `json:"create_time"`
	Order      int64  `json:"order"`
	Deleted    *bool  `json:"deleted,omitempty"`
}

type tagGroupBody struct {
	GroupID    string    `json:"group_id"`
	GroupName  string    `json:"group_name"`
	CreateTime int64     `json:"create_time"`
	Order      int64     `json:"order"`
	Deleted    *bool     `json:"deleted,omitempty"`
	Tag        []tagBody `json:"tag"`
}

func groupBody(g *TagGroup, keep func(*Tag) bool, byID bool) tagGroupBody {
	var deleted *bool
	if byID {
		deleted = new(bool) // "deleted" only appears when querying by id
	}
	out := tagGroupBody{GroupID: g.GroupID, GroupName: g.GroupName, CreateTime: g.CreateTime, Order: g.Order,
		Deleted: deleted, Tag: []tagBody{}}
	for _, t := range g.Tags {
		if keep(t) {
			out.Tag = append(out.Tag, tagBody{t.ID, t.Name, t.CreateTime, t.Order, deleted})
		}
	}
	return out
}

// ecGetCorpTagList: POST get_corp_tag_list {tag_id, group_id}; group_id wins.
func (s *Sandbox) ecGetCorpTagList(c *call) (any, *apiError) {
	var req struct {
		TagID   []string `json:"tag_id"`
		GroupID []string `json:"group_id"`
	}
	if aerr := c.decode(&req); aerr != nil {
		return nil, aerr
	}
	all := func(*Tag) bool { return true }
	out := []tagGroupBody{}
	switch {
	case len(req.GroupID) > 0:
		for _, g := range s.w.TagGroups {
			if slices.Contains(req.GroupID, g.GroupID) {
				out = append(out, groupBody(g, all, true))
			}
		}
	case len(req.TagID) > 0:
		for _, g := range s.w.TagGroups {
			b := groupBody(g, func(t *Tag) bool { return slices.Contains(req.TagID, t.ID) }, true)
			if len(b.Tag) > 0 {
				out = append(out, b)
			}
		}
	default:
		for _, g := range s.w.TagGroups {
			out = append(out, groupBody(g, all, false))
		}
	}
	return struct {
		okBody
		TagGroup []tagGroupBody `json:"tag_group"`
	}{ok(), out}, nil
}

type addTagRequest struct {
	GroupID   string `json:"group_id"`
	GroupName string `json:"group_name"`
	Order     int64  `json:"order"`
	Tag       []struct {
		Name  string `json:"name"`
		Order int64  `json:"order"`
	} `json:"tag"`
}

// ecAddCorpTag: POST add_corp_tag; an existing group_name receives the tags.
func (s *Sandbox) ecAddCorpTag(c *call) (any, *apiError) {
	var req addTagRequest
	if aerr := c.decode(&req); aerr != nil {
		return nil, aerr
	}
	if len(req.Tag) == 0 {
		return nil, errBadParam("tag is empty")
	}
	if len(s.w.tagByID)+len(req.Tag) > maxCorpTags {
		return nil, apiErr(40126, "tag count exceeds the limit")
	}
	g, aerr := s.tagGroupFor(req)
	if aerr != nil {
		return nil, aerr
	}
	added := s.addTags(g, req)
	s.touch()
	b := groupBody(g, func(t *Tag) bool { return slices.Contains(added, t) }, false)
	return struct {
		okBody
		TagGroup tagGroupBody `json:"tag_group"`
	}{ok(), b}, nil
}

func (s *Sandbox) tagGroupFor(req addTagRequest) (*TagGroup, *apiError) {
	if req.GroupID != "" {
		if g := s.w.groupByID[req.GroupID]; g != nil {
			return g, nil
		}
		return nil, apiErr(40068, "invalid tag group id")
	}
	if req.GroupName == "" || utf8.RuneCountInString(req.GroupName) > 30 {
		return nil, errBadParam("group_name")
	}
	for _, g := range s.w.TagGroups {
		if g.GroupName == req.GroupName {
			return g, nil
		}
	}
	g := &TagGroup{GroupID: s.w.newID("taggroup", "et", 32), GroupName: req.GroupName,
		CreateTime: s.now().Unix(), Order: req.Order}
	s.w.TagGroups = append(s.w.TagGroups, g)
	s.w.groupByID[g.GroupID] = g
	return g, nil
}

// addTags appends the named tags; duplicates collapse onto the existing tag.
func (s *Sandbox) addTags(g *TagGroup, req addTagRequest) []*Tag {
	var out []*Tag
	for _, in := range req.Tag {
		if in.Name == "" {
			continue
		}
		i := slices.IndexFunc(g.Tags, func(t *Tag) bool { return t.Name == in.Name })
		if i >= 0 {
			out = append(out, g.Tags[i])
			continue
		}
		t := &Tag{ID: s.w.newID("tag", "et", 32), Name: in.Name, CreateTime: s.now().Unix(), Order: in.Order, group: g}
		g.Tags = append(g.Tags, t)
		s.w.tagByID[t.ID] = t
		out = append(out, t)
	}
	return out
}

// ecEditCorpTag: POST edit_corp_tag {id, name, order}; id is a tag or a group.
func (s *Sandbox) ecEditCorpTag(c *call) (any, *apiError) {
	var req struct {
		ID    string `json:"id"`
		Name  string `json:"name"`
		Order *int64 `json:"order"`
	}
	if aerr := c.decode(&req); aerr != nil {
		return nil, aerr
	}
	if t := s.w.tagByID[req.ID]; t != nil {
		if req.Name != "" {
			t.Name = req.Name
		}
		if req.Order != nil {
			t.Order = *req.Order
		}
	} else if g := s.w.groupByID[req.ID]; g != nil {
		if req.Name != "" {
			g.GroupName = req.Name
		}
		if req.Order != nil {
			g.Order = *req.Order
		}
	} else {
		return nil, apiErr(40068, "invalid tagid")
	}
	s.touch()
	return ok(), nil
}

// ecDelCorpTag: POST del_corp_tag {tag_id, group_id}; an emptied group goes too.
func (s *Sandbox) ecDelCorpTag(c *call) (any, *apiError) {
	var req struct {
		TagID   []string `json:"tag_id"`
		GroupID []string `json:"group_id"`
	}
	if aerr := c.decode(&req); aerr != nil {
		return nil, aerr
	}
	if len(req.TagID) == 0 && len(req.GroupID) == 0 {
		return nil, errBadParam("tag_id and group_id empty")
	}
	for _, id := range req.TagID {
		if s.w.tagByID[id] == nil {
			return nil, apiErr(40068, "invalid tagid")
		}
	}
	for _, id := range req.GroupID {
		if g := s.w.groupByID[id]; g != nil {
			g.Tags = nil
		}
	}
	for _, id := range req.TagID {
		g := s.w.tagByID[id].group
		g.Tags = slices.DeleteFunc(g.Tags, func(t *Tag) bool { return t.ID == id })
	}
	s.w.TagGroups = slices.DeleteFunc(s.w.TagGroups, func(g *TagGroup) bool { return len(g.Tags) == 0 })
	s.w.reindexTags()
	s.touch()
	return ok(), nil
}

// reindexTags rebuilds tag maps and drops deleted tags from relations.
func (w *world) reindexTags() {
	w.tagByID, w.groupByID = map[string]*Tag{}, map[string]*TagGroup{}
	for _, g := range w.TagGroups {
		w.indexTagGroup(g)
	}
	for _, f := range w.Follows {
		f.TagIDs = slices.DeleteFunc(f.TagIDs, func(id string) bool { return w.tagByID[id] == nil })
	}
}

// ecMarkTag: POST mark_tag {userid, external_userid, add_tag, remove_tag}; no callback.
func (s *Sandbox) ecMarkTag(c *call) (any, *apiError) {
	var req struct {
		UserID         string   `json:"userid"`
		ExternalUserID string   `json:"external_userid"`
		AddTag         []string `json:"add_tag"`
		RemoveTag      []string `json:"remove_tag"`
	}
	if aerr := c.decode(&req); aerr != nil {
		return nil, aerr
	}
	if len(req.AddTag) == 0 && len(req.RemoveTag) == 0 {
		return nil, errBadParam("add_tag and remove_tag empty")
	}
	f := s.w.follow(req.UserID, req.ExternalUserID)
	if f == nil {
		return nil, apiErr(84061, "not external contact")
	}
	for _, id := range append(slices.Clone(req.AddTag), req.RemoveTag...) {
		if s.w.tagByID[id] == nil {
			return nil, apiErr(40068, "invalid tagid")
		}
	}
	for _, id := range req.AddTag {
		if !slices.Contains(f.TagIDs, id) {
			f.TagIDs = append(f.TagIDs, id)
		}
	}
	f.TagIDs = slices.DeleteFunc(f.TagIDs, func(id string) bool { return slices.Contains(req.RemoveTag, id) })
	s.addOutbox(OutboxMarkTag, map[string]any{"userid": f.UserID, "external_userid": f.ExternalUserID}, c.body)
	s.touch()
	return ok(), nil
}
