package pgcluster

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeBinDir makes dir/bin holding the given executables.
func fakeBinDir(t *testing.T, dir string, names ...string) string {
	t.Helper()
	bin := filepath.Join(dir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(bin, n), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return bin
}

func noPath(string) (string, error) { return "", errors.New("not found") }

func TestFindBinDir(t *testing.T) {
	root := t.TempDir()
	for _, v := range []string{"9.6", "10", "15"} {
		fakeBinDir(t, filepath.Join(root, v), requiredBins...)
	}
	fakeBinDir(t, filepath.Join(root, "16"), "pg_ctl") // incomplete: skipped
	fakeBinDir(t, filepath.Join(root, "common"), requiredBins...)

	onPath := fakeBinDir(t, t.TempDir(), requiredBins...)
	link := filepath.Join(t.TempDir(), "pg_ctl")
	if err := os.Symlink(filepath.Join(onPath, "pg_ctl"), link); err != nil {
		t.Fatal(err)
	}
	lookLink := func(string) (string, error) { return link, nil }

	tests := []struct {
		name     string
		explicit string
		root     string
		lookPath func(string) (string, error)
		want     string
		wantErr  string
	}{
		{"explicit wins", onPath, root, noPath, onPath, ""},
		{"explicit without binaries", t.TempDir(), root, noPath, "", "PG_BINDIR"},
		{"newest version, numerically", "", root, noPath, filepath.Join(root, "15", "bin"), ""},
		{"pg_ctl on PATH, symlink followed", "", t.TempDir(), lookLink, onPath, ""},
		{"nothing anywhere", "", t.TempDir(), noPath, "", installHint},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := findBinDir(tt.explicit, tt.root, tt.lookPath)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("findBinDir() = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestParseVersion(t *testing.T) {
	for _, s := range []string{"", "15beta", "1..2", "-1"} {
		if _, ok := parseVersion(s); ok {
			t.Errorf("parseVersion(%q) ok, want rejected", s)
		}
	}
}
