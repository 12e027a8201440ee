package wxcrypto

import (
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"io"
)

// Crypter seals and opens callbacks for one receiver: a WeCom self-built app
// (ReceiveID = corp id) or an Official Account / mini program (ReceiveID =
// appid). The zero Random means crypto/rand.
type Crypter struct {
	Token     string
	Key       []byte // 32 bytes, see AESKey
	ReceiveID string
	Random    io.Reader // source of the 16-char random prefix; tests may fix it
}

// NewCrypter builds a Crypter from the console settings (Token, EncodingAESKey).
func NewCrypter(token, encodingAESKey, receiveID string) (*Crypter, error) {
	key, err := AESKey(encodingAESKey)
	if err != nil {
		return nil, err
	}
	return &Crypter{Token: token, Key: key, ReceiveID: receiveID}, nil
}

// Seal encrypts plaintext for the receiver and signs it; the two results are
// the <Encrypt> value and the msg_signature query parameter.
func (c *Crypter) Seal(plaintext []byte, timestamp, nonce string) (encrypt, msgSignature string, err error) {
	random, err := c.random16()
	if err != nil {
		return "", "", err
	}
	encrypt, err = Encrypt(c.Key, random, plaintext, c.ReceiveID)
	if err != nil {
		return "", "", err
	}
	return encrypt, Sign(c.Token, timestamp, nonce, encrypt), nil
}

// Open checks msg_signature, decrypts and compares the receiveid. Errors wrap
// ErrSignature, ErrDecrypt, ErrMalformed or ErrReceiveID.
func (c *Crypter) Open(msgSignature, timestamp, nonce, encrypt string) ([]byte, error) {
	if err := CheckSignature(msgSignature, c.Token, timestamp, nonce, encrypt); err != nil {
		return nil, err
	}
	msg, receiveID, err := Decrypt(c.Key, encrypt)
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare([]byte(receiveID), []byte(c.ReceiveID)) != 1 {
		return nil, fmt.Errorf("%w: got %q", ErrReceiveID, receiveID)
	}
	return msg, nil
}

// VerifyURL answers WeCom's GET URL verification: echostr (already
// URL-decoded) is encrypted; the returned plaintext is the exact response body.
func (c *Crypter) VerifyURL(msgSignature, timestamp, nonce, echostr string) ([]byte, error) {
	return c.Open(msgSignature, timestamp, nonce, echostr)
}

// SealReply builds the passive encrypted reply envelope (Encrypt,
// MsgSignature, TimeStamp, Nonce).
func (c *Crypter) SealReply(plaintext []byte, timestamp, nonce string) ([]byte, error) {
	encrypt, sig, err := c.Seal(plaintext, timestamp, nonce)
	if err != nil {
		return nil, err
	}
	return Reply{Encrypt: encrypt, MsgSignature: sig, TimeStamp: timestamp, Nonce: nonce}.Marshal(), nil
}

// OpenReply parses a passive reply envelope, checks its MsgSignature and
// decrypts it; the sandbox uses it to judge the app's answers.
func (c *Crypter) OpenReply(body []byte) ([]byte, error) {
	r, err := ParseReply(body)
	if err != nil {
		return nil, err
	}
	return c.Open(r.MsgSignature, r.TimeStamp, r.Nonce, r.Encrypt)
}

// OpenEnvelope parses a POSTed callback body and opens its Encrypt element.
func (c *Crypter) OpenEnvelope(msgSignature, timestamp, nonce string, body []byte) ([]byte, error) {
	env, err := ParseEnvelope(body)
	if err != nil {
		return nil, err
	}
	return c.Open(msgSignature, timestamp, nonce, env.Encrypt)
}

// CheckSignature compares want with Sign(parts...) in constant time: the
// OA plain-mode signature is CheckSignature(sig, token, timestamp, nonce).
func CheckSignature(want string, parts ...string) error {
	if subtle.ConstantTimeCompare([]byte(want), []byte(Sign(parts...))) != 1 {
		return ErrSignature
	}
	return nil
}

// random16 draws 16 characters from [0-9a-zA-Z] like the official samples.
func (c *Crypter) random16() ([]byte, error) {
	const alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	src := c.Random
	if src == nil {
		src = rand.Reader
	}
	b := make([]byte, RandomLen)
	if _, err := io.ReadFull(src, b); err != nil {
		return nil, fmt.Errorf("wxcrypto: random: %w", err)
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return b, nil
}
