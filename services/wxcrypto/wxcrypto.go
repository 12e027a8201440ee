// Package wxcrypto implements the WXBizMsgCrypt callback security scheme shared
// by WeCom and the WeChat Official Account (wechat-protocol.md §1): SHA-1
// signatures, AES-256-CBC with the EncodingAESKey, the XML envelopes and the
// JS-SDK signature. It is a leaf package (stdlib only) used both by the sandbox
// that sends callbacks and by the app's callback receiver.
package wxcrypto

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Errors callers switch on with errors.Is; every returned error wraps one.
var (
	// ErrSignature: msg_signature / signature does not match.
	ErrSignature = errors.New("wxcrypto: signature mismatch")
	// ErrReceiveID: the trailing receiveid is not the expected corp id / appid.
	ErrReceiveID = errors.New("wxcrypto: receiveid mismatch")
	// ErrDecrypt: base64, block size or padding is wrong (the key is probably wrong).
	ErrDecrypt = errors.New("wxcrypto: decrypt failed")
	// ErrMalformed: the decrypted layout or an XML envelope is not well formed.
	ErrMalformed = errors.New("wxcrypto: malformed message")
	// ErrKey: the EncodingAESKey is not 43 base64 characters decoding to 32 bytes.
	ErrKey = errors.New("wxcrypto: illegal EncodingAESKey")
)

const (
	// blockSize is the PKCS#7 block of WXBizMsgCrypt: 32 bytes, not the AES block size.
	blockSize = 32
	// prefixLen is random(16) || msg_len(4).
	prefixLen = 20
	// RandomLen is the length of the random prefix inside the plaintext.
	RandomLen = 16
)

// Sign returns the lower-case hex SHA-1 of the parts sorted byte-wise and
// concatenated: msg_signature over (token, timestamp, nonce, encrypt) or the
// OA plain signature over (token, timestamp, nonce).
func Sign(parts ...string) string {
	sorted := append([]string(nil), parts...)
	sort.Strings(sorted)
	sum := sha1.Sum([]byte(strings.Join(sorted, "")))
	return hex.EncodeToString(sum[:])
}

// AESKey decodes a 43-character EncodingAESKey into the 32-byte AES key.
func AESKey(encodingAESKey string) ([]byte, error) {
	if len(encodingAESKey) != 43 {
		return nil, fmt.Errorf("%w: length %d, want 43", ErrKey, len(encodingAESKey))
	}
	key, err := base64.StdEncoding.DecodeString(encodingAESKey + "=")
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKey, err)
	}
	if len(key) != 32 {
		return nil, fmt.Errorf("%w: decodes to %d bytes", ErrKey, len(key))
	}
	return key, nil
}

// Encrypt builds random16 || uint32_be(len(msg)) || msg || receiveID, pads it
// to 32 bytes and encrypts it with AES-256-CBC (IV = key[:16]); the result is
// standard base64. random16 is a parameter so tests can reproduce vectors.
func Encrypt(key, random16, msg []byte, receiveID string) (string, error) {
	if len(key) != 32 {
		return "", fmt.Errorf("%w: key is %d bytes", ErrKey, len(key))
	}
	if len(random16) != RandomLen {
		return "", fmt.Errorf("wxcrypto: random prefix is %d bytes, want 16", len(random16))
	}
	plain := make([]byte, 0, prefixLen+len(msg)+len(receiveID)+blockSize)
	plain = append(plain, random16...)
	plain = binary.BigEndian.AppendUint32(plain, uint32(len(msg)))
	plain = append(plain, msg...)
	plain = append(plain, receiveID...)
	plain = pad(plain)
	block, err := aes.NewCipher(key)
	if err != nil {
		return "", fmt.Errorf("wxcrypto: encrypt: %w", err)
	}
	cipher.NewCBCEncrypter(block, key[:aes.BlockSize]).CryptBlocks(plain, plain)
	return base64.StdEncoding.EncodeToString(plain), nil
}

// Decrypt reverses Encrypt and returns the message and the receiveid found in
// it; the caller compares the receiveid (Crypter.Open does). It rejects
// anything that is not exactly what a conforming sender produces.
func Decrypt(key []byte, b64 string) (msg []byte, receiveID string, err error) {
	if len(key) != 32 {
		return nil, "", fmt.Errorf("%w: key is %d bytes", ErrKey, len(key))
	}
	data, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, "", fmt.Errorf("%w: base64: %v", ErrDecrypt, err)
	}
	if len(data) == 0 || len(data)%blockSize != 0 {
		return nil, "", fmt.Errorf("%w: ciphertext length %d", ErrDecrypt, len(data))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %v", ErrDecrypt, err)
	}
	cipher.NewCBCDecrypter(block, key[:aes.BlockSize]).CryptBlocks(data, data)
	plain, err := unpad(data)
	if err != nil {
		return nil, "", err
	}
	return split(plain)
}

// split cuts the unpadded plaintext into msg and receiveid.
func split(plain []byte) ([]byte, string, error) {
	if len(plain) < prefixLen {
		return nil, "", fmt.Errorf("%w: plaintext shorter than 20 bytes", ErrMalformed)
	}
	n := uint64(binary.BigEndian.Uint32(plain[RandomLen:prefixLen]))
	if n > uint64(len(plain)-prefixLen) {
		return nil, "", fmt.Errorf("%w: msg_len %d exceeds plaintext", ErrMalformed, n)
	}
	end := prefixLen + int(n)
	return plain[prefixLen:end], string(plain[end:]), nil
}

func pad(b []byte) []byte {
	n := blockSize - len(b)%blockSize
	return append(b, bytes.Repeat([]byte{byte(n)}, n)...)
}

// unpad checks the whole PKCS#7 tail: a key mismatch shows up here, and
// accepting sloppy padding would let garbage through as a message.
func unpad(b []byte) ([]byte, error) {
	n := int(b[len(b)-1])
	if n < 1 || n > blockSize || n > len(b) {
		return nil, fmt.Errorf("%w: bad padding", ErrDecrypt)
	}
	for _, c := range b[len(b)-n:] {
		if int(c) != n {
			return nil, fmt.Errorf("%w: bad padding", ErrDecrypt)
		}
	}
	return b[:len(b)-n], nil
}

// JSSDKSignature is the wx.config / agentConfig / ww.register signature:
// sha1("jsapi_ticket=T&noncestr=N&timestamp=TS&url=U"), keys in this order,
// no URL-encoding; url is the page URL without the fragment.
func JSSDKSignature(ticket, nonce, timestamp, url string) string {
	if i := strings.IndexByte(url, '#'); i >= 0 {
		url = url[:i]
	}
	s := "jsapi_ticket=" + ticket + "&noncestr=" + nonce + "&timestamp=" + timestamp + "&url=" + url
	sum := sha1.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}
