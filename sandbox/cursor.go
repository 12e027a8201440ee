package sandbox

import (
	"encoding/base64"
	"strconv"
	"strings"
)

// Cursors are opaque to the app (wechat-protocol.md §7.8) but carry an
// offset, the list they page through and a MAC, so a forged or foreign
// cursor is rejected instead of silently restarting the listing.

func (s *Sandbox) encodeCursor(kind, scope string, offset int) string {
	raw := kind + "|" + strconv.Itoa(offset) + "|" + s.cursorMAC(kind, scope, offset)
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// decodeCursor returns the offset; "" is the first page.
func (s *Sandbox) decodeCursor(cursor, kind, scope string) (int, *apiError) {
	if cursor == "" {
		return 0, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return 0, errBadParam("cursor")
	}
	parts := strings.Split(string(raw), "|")
	if len(parts) != 3 || parts[0] != kind {
		return 0, errBadParam("cursor")
	}
	offset, err := strconv.Atoi(parts[1])
	if err != nil || offset < 0 || parts[2] != s.cursorMAC(kind, scope, offset) {
		return 0, errBadParam("cursor")
	}
	return offset, nil
}

func (s *Sandbox) cursorMAC(kind, scope string, offset int) string {
	return deriveHex(s.w.Seed, "cursor|"+kind+"|"+scope, uint64(offset), 16)
}

// page cuts [offset, offset+limit) out of n items and returns the next cursor.
func (s *Sandbox) page(kind, scope string, offset, limit, n int) (from, to int, next string) {
	from = min(offset, n)
	to = min(from+limit, n)
	if to < n {
		next = s.encodeCursor(kind, scope, to)
	}
	return from, to, next
}
