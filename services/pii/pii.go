// Package pii encrypts personal data at rest and computes blind indexes for it.
//
// Ciphertexts are keyID(1 byte) ‖ nonce ‖ ciphertext ‖ tag (AES-256-GCM with a
// random nonce). The column name is the associated data, so a ciphertext copied
// into another column does not open. Several keys can be held at once for
// rotation: new data is sealed with the current key, old data opens with the
// key its first byte names.
//
// Blind indexes are HMAC-SHA256 over a domain and the normalised value. Their
// key is derived from the oldest key of the ring and never rotates, so lookups
// keep working across key rotation.
package pii

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// ErrUndecryptable is returned when a ciphertext is damaged, was sealed for
// another column, or names a key the ring does not hold.
var ErrUndecryptable = errors.New("pii: ciphertext cannot be opened")

// Box seals and opens personal data. It is safe for concurrent use.
type Box struct {
	aeads   map[byte]cipher.AEAD
	current byte
	index   []byte
}

// NewBox builds a Box from master keys by id; current names the key used to seal.
// Each master key must be 32 bytes.
func NewBox(keys map[byte][]byte, current byte) (*Box, error) {
	if _, ok := keys[current]; !ok {
		return nil, fmt.Errorf("pii: current key %d is not in the ring", current)
	}
	b := &Box{aeads: make(map[byte]cipher.AEAD, len(keys)), current: current}
	ids := make([]int, 0, len(keys))
	for id, master := range keys {
		if len(master) != 32 {
			return nil, fmt.Errorf("pii: key %d is %d bytes, want 32", id, len(master))
		}
		aead, err := newAEAD(DeriveKey(master, "pii-encryption"))
		if err != nil {
			return nil, err
		}
		b.aeads[id] = aead
		ids = append(ids, int(id))
	}
	sort.Ints(ids)
	b.index = DeriveKey(keys[byte(ids[0])], "pii-blind-index")
	return b, nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("pii: cipher: %w", err)
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("pii: gcm: %w", err)
	}
	return aead, nil
}

// DeriveKey derives a 32-byte key for one purpose from a master key (HKDF-SHA256),
// so one configured secret can serve several independent uses.
func DeriveKey(master []byte, purpose string) []byte {
	k, err := hkdf.Key(sha256.New, master, nil, purpose, 32)
	if err != nil { // only for lengths HKDF cannot produce; 32 always fits
		panic(err)
	}
	return k
}

// Seal encrypts plaintext for column (e.g. "identities.phone").
func (b *Box) Seal(column string, plaintext []byte) []byte {
	aead := b.aeads[b.current]
	out := make([]byte, 1, 1+aead.NonceSize()+len(plaintext)+aead.Overhead())
	out[0] = b.current
	return aead.Seal(out, nil, plaintext, []byte(column))
}

// Open decrypts a ciphertext sealed for column.
func (b *Box) Open(column string, ciphertext []byte) ([]byte, error) {
	if len(ciphertext) < 1 {
		return nil, ErrUndecryptable
	}
	aead, ok := b.aeads[ciphertext[0]]
	if !ok {
		return nil, ErrUndecryptable
	}
	pt, err := aead.Open(nil, nil, ciphertext[1:], []byte(column))
	if err != nil {
		return nil, ErrUndecryptable
	}
	return pt, nil
}

// SealString is Seal for strings.
func (b *Box) SealString(column, s string) []byte { return b.Seal(column, []byte(s)) }

// OpenString is Open for strings.
func (b *Box) OpenString(column string, ciphertext []byte) (string, error) {
	pt, err := b.Open(column, ciphertext)
	return string(pt), err
}

// BlindIndex returns the lookup key of value within domain (e.g. "phone").
// Callers normalise value first (a phone in E.164), so equal values match.
func (b *Box) BlindIndex(domain, value string) []byte {
	m := hmac.New(sha256.New, b.index)
	m.Write([]byte(domain))
	m.Write([]byte{0})
	m.Write([]byte(value))
	return m.Sum(nil)
}

// ParseKeyring parses "ID:BASE64[,ID:BASE64...]" (or a single bare BASE64, id 1).
// The first key listed is the current one.
func ParseKeyring(spec string) (map[byte][]byte, byte, error) {
	keys := map[byte][]byte{}
	var current byte
	for i, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		idText, b64, found := strings.Cut(part, ":")
		if !found {
			idText, b64 = "1", part
		}
		id, err := strconv.ParseUint(idText, 10, 8)
		if err != nil || id == 0 {
			return nil, 0, fmt.Errorf("key id %q must be a number from 1 to 255", idText)
		}
		raw, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || len(raw) != 32 {
			return nil, 0, fmt.Errorf("key %d must be 32 bytes in standard base64", id)
		}
		if _, dup := keys[byte(id)]; dup {
			return nil, 0, fmt.Errorf("key id %d is listed twice", id)
		}
		keys[byte(id)] = raw
		if i == 0 {
			current = byte(id)
		}
	}
	return keys, current, nil
}
