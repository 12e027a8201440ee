package main

import (
	"strings"
	"testing"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadConfig(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantErr []string // substrings the error must contain
		check   func(t *testing.T, c Config)
	}{
		{name: "defaults", env: map[string]string{}, check: func(t *testing.T, c Config) {
			if c.Addr != "127.0.0.1:8080" || c.BaseURL != "http://127.0.0.1:8080" || c.DatabaseURL != "" || c.Production() {
				t.Fatalf("defaults: %+v", c)
			}
			if !strings.HasSuffix(c.DataDir, "/data") || c.MaxBodyBytes != 1<<20 {
				t.Fatalf("data dir %q, body %d", c.DataDir, c.MaxBodyBytes)
			}
		}},
		{name: "proxies", env: map[string]string{"TRUSTED_PROXIES": "10.0.0.0/8, 127.0.0.1"}, check: func(t *testing.T, c Config) {
			if len(c.TrustedProxies) != 2 {
				t.Fatalf("proxies %v", c.TrustedProxies)
			}
		}},
		{name: "every bad variable is named", env: map[string]string{
			"APP_ENV": "staging", "ADDR": "8080", "BASE_URL": "ftp://x", "TRUSTED_PROXIES": "nope",
			"LOG_LEVEL": "loud", "MAX_BODY_BYTES": "12", "DATABASE_URL": "postgres://db/x",
		}, wantErr: []string{"APP_ENV", "ADDR", "BASE_URL", "TRUSTED_PROXIES", "LOG_LEVEL", "MAX_BODY_BYTES", "sslmode"}},
		{name: "production needs keys and https", env: map[string]string{"APP_ENV": "production", "BASE_URL": "http://ma.example.com"},
			wantErr: []string{"SESSION_KEY", "ENCRYPTION_KEY", "https"}},
		{name: "production complete", env: map[string]string{"APP_ENV": "production", "BASE_URL": "https://ma.example.com/",
			"SESSION_KEY": "x", "ENCRYPTION_KEY": "y"}, check: func(t *testing.T, c Config) {
			if !c.Production() || c.BaseURL != "https://ma.example.com" {
				t.Fatalf("%+v", c)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := LoadConfig(envOf(tt.env))
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatal("no error")
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error does not name %s:\n%v", w, err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func TestUnknownCommand(t *testing.T) {
	var out strings.Builder
	err := run(t.Context(), []string{"frobnicate"}, &out, envOf(nil))
	if err == nil || !strings.Contains(out.String(), "migrate") {
		t.Fatalf("err %v, help %q", err, out.String())
	}
}
