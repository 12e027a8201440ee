package sandbox

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"strconv"
)

// Ids are derived from (seed, kind, counter) so a test with a fixed seed sees
// the same ids every run, and they have the real shapes: openid/unionid 28
// chars starting with "o", external_userid "wm…" 32 chars, chat "wr…", tags "et…".

const idAlphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

func hexString(rng *rand.Rand, n int) string {
	b := make([]byte, (n+1)/2)
	for i := range b {
		b[i] = byte(rng.UintN(256))
	}
	return hex.EncodeToString(b)[:n]
}

func alnum(rng *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = idAlphabet[rng.IntN(len(idAlphabet))]
	}
	return string(b)
}

// derive returns prefix + base64url(sha256(seed|kind|n)) cut to length chars.
func derive(seed uint64, kind string, n uint64, prefix string, length int) string {
	var buf [16]byte
	binary.BigEndian.PutUint64(buf[:8], seed)
	binary.BigEndian.PutUint64(buf[8:], n)
	h := sha256.New()
	h.Write(buf[:])
	h.Write([]byte(kind))
	sum := h.Sum(nil)
	body := base64.RawURLEncoding.EncodeToString(sum) // 43 chars
	for len(body) < length {
		body += body
	}
	return prefix + body[:length-len(prefix)]
}

// deriveHex is derive with a lower-case hex body (config ids, member versions).
func deriveHex(seed uint64, kind string, n uint64, length int) string {
	var buf [16]byte
	binary.BigEndian.PutUint64(buf[:8], seed)
	binary.BigEndian.PutUint64(buf[8:], n)
	sum := sha256.Sum256(append(buf[:], kind...))
	return hex.EncodeToString(sum[:])[:length]
}

// newID draws the next counter value; callers hold s.mu.
func (w *world) newID(kind, prefix string, length int) string {
	w.Counter++
	return derive(w.Seed, kind, w.Counter, prefix, length)
}

func (w *world) newHex(kind string, length int) string {
	w.Counter++
	return deriveHex(w.Seed, kind, w.Counter, length)
}

func (w *world) newPersonID() string {
	w.PersonSeq++
	return "p" + pad6(w.PersonSeq)
}

func pad6(n int) string {
	s := strconv.Itoa(n)
	for len(s) < 6 {
		s = "0" + s
	}
	return s
}
