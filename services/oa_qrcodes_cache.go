package services

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
)

// replyCache holds the live codes by scene for the callback ack. It is
// reloaded when sum(version) moved, checked at most once per Recheck and
// only when a scan arrives, so other callbacks never touch the database for
// it and a change in another instance is seen within Recheck.
type replyCache struct {
	mu        sync.Mutex
	byCode    map[string]OAQRCode
	version   int64
	checkedAt time.Time
}

func (c *replyCache) invalidate() {
	c.mu.Lock()
	c.checkedAt = time.Time{}
	c.mu.Unlock()
}

// SceneOf returns the scene of a QR scan event: EventKey "qrscene_<scene>"
// on subscribe, the bare scene on SCAN. ok is false for other events.
func SceneOf(event, eventKey string) (string, bool) {
	switch event {
	case "subscribe":
		scene, found := strings.CutPrefix(eventKey, "qrscene_")
		return scene, found && scene != ""
	case "SCAN":
		return eventKey, eventKey != ""
	}
	return "", false
}

// ReplyFor returns the passive reply of the live code whose scene is scene.
// ok is false when no live code has it.
func (s *OAQRCodeService) ReplyFor(ctx context.Context, scene string) (OAReply, bool, error) {
	q, ok, err := s.lookup(ctx, scene)
	if err != nil || !ok {
		return OAReply{}, false, err
	}
	return s.Reply(q), true, nil
}

func (s *OAQRCodeService) lookup(ctx context.Context, scene string) (OAQRCode, bool, error) {
	c := &s.cache
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byCode == nil || time.Since(c.checkedAt) >= s.Recheck {
		if err := s.refresh(ctx, c); err != nil {
			if c.byCode == nil {
				return OAQRCode{}, false, err
			}
			// keep answering with what we have while the database is away
		}
	}
	q, ok := c.byCode[scene]
	return q, ok, nil
}

// refresh reloads the codes when their version moved; callers hold c.mu.
func (s *OAQRCodeService) refresh(ctx context.Context, c *replyCache) error {
	// sum, not max: versions only grow, so any insert or change moves the
	// sum, even one committed after a later-numbered change was seen.
	var v int64
	if err := s.db.GetContext(ctx, &v, `SELECT coalesce(sum(version), 0)::bigint FROM oa_qrcodes`); err != nil {
		return fmt.Errorf("oa qrcodes: version: %w", err)
	}
	if c.byCode == nil || v != c.version {
		var rows []OAQRCode
		if err := s.db.SelectContext(ctx, &rows, `SELECT `+oaQRColumns+` FROM oa_qrcodes WHERE deleted_at IS NULL`); err != nil {
			return fmt.Errorf("oa qrcodes: load: %w", err)
		}
		m := make(map[string]OAQRCode, len(rows))
		for _, q := range rows {
			m[q.Code] = q
		}
		c.byCode, c.version = m, v
	}
	c.checkedAt = time.Now()
	return nil
}
