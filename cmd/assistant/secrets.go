package main

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/marketing-assistant/assistant/services/pii"
)

// Secrets are the keys the app derives everything else from.
type Secrets struct {
	// Session signs and encrypts cookies (HKDF sub-keys are derived from it).
	Session []byte
	// PII seals personal data and computes blind indexes.
	PII *pii.Box
	// Master is the current encryption master key, for other derived keys
	// (e.g. attribution tokens) that must survive restarts.
	Master []byte
}

// loadSecrets reads SESSION_KEY and ENCRYPTION_KEY, or in development generates
// them once under DATA_DIR/secrets and reuses them on later starts.
func loadSecrets(cfg Config, log *slog.Logger) (Secrets, error) {
	sessionSpec, err := secretOrFile(cfg, "SESSION_KEY", cfg.SessionKey, "session.key", log)
	if err != nil {
		return Secrets{}, err
	}
	session, err := base64.StdEncoding.DecodeString(sessionSpec)
	if err != nil || len(session) < 32 {
		return Secrets{}, errors.New("SESSION_KEY must be at least 32 bytes in standard base64")
	}
	encSpec, err := secretOrFile(cfg, "ENCRYPTION_KEY", cfg.EncryptionKeys, "encryption.key", log)
	if err != nil {
		return Secrets{}, err
	}
	keys, current, err := pii.ParseKeyring(encSpec)
	if err != nil {
		return Secrets{}, fmt.Errorf("ENCRYPTION_KEY: %w", err)
	}
	box, err := pii.NewBox(keys, current)
	if err != nil {
		return Secrets{}, fmt.Errorf("ENCRYPTION_KEY: %w", err)
	}
	return Secrets{Session: session, PII: box, Master: keys[current]}, nil
}

// secretOrFile returns the configured value, else the one kept in
// DATA_DIR/secrets/name, else a new random key written there (0600).
func secretOrFile(cfg Config, envName, configured, name string, log *slog.Logger) (string, error) {
	if configured != "" {
		return configured, nil
	}
	if cfg.Production() {
		return "", fmt.Errorf("%s is required in production", envName)
	}
	path := filepath.Join(cfg.DataDir, "secrets", name)
	b, err := os.ReadFile(path)
	if err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return "", err
	}
	spec := base64.StdEncoding.EncodeToString(key)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("create %s: %w", filepath.Dir(path), err)
	}
	if err := os.WriteFile(path, []byte(spec+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	log.Warn("generated a new key because "+envName+" is unset; it is kept in the data directory and reused on later starts",
		"variable", envName, "file", path)
	return spec, nil
}
