package pgcluster

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// installHint is what to do when no PostgreSQL binaries are found.
const installHint = "install PostgreSQL (Debian: apt-get install postgresql) or set DATABASE_URL to an existing server"

// debianRoot is where Debian's postgresql-NN packages put their binaries.
const debianRoot = "/usr/lib/postgresql"

// requiredBins are the programs a Cluster runs.
var requiredBins = []string{"initdb", "pg_ctl", "postgres"}

// FindBinDir returns the directory holding initdb, pg_ctl and postgres:
// explicit (PG_BINDIR) when set, else the newest /usr/lib/postgresql/*/bin,
// else the directory of pg_ctl on PATH.
func FindBinDir(explicit string) (string, error) {
	return findBinDir(explicit, debianRoot, exec.LookPath)
}

// findBinDir is FindBinDir with the search root and PATH lookup injected.
func findBinDir(explicit, root string, lookPath func(string) (string, error)) (string, error) {
	if explicit != "" {
		if err := checkBinDir(explicit); err != nil {
			return "", fmt.Errorf("pgcluster: PG_BINDIR: %w", err)
		}
		return explicit, nil
	}
	if dir := newestVersionDir(root); dir != "" {
		return dir, nil
	}
	if p, err := lookPath("pg_ctl"); err == nil {
		// Follow symlinks such as /usr/local/bin/pg_ctl -> .../15/bin/pg_ctl:
		// initdb and postgres live beside the real file.
		if real, err := filepath.EvalSymlinks(p); err == nil && checkBinDir(filepath.Dir(real)) == nil {
			return filepath.Dir(real), nil
		}
	}
	return "", errors.New("pgcluster: no PostgreSQL binaries found: " + installHint)
}

// newestVersionDir returns root/<version>/bin for the highest version that
// holds all required binaries, or "".
func newestVersionDir(root string) string {
	entries, _ := os.ReadDir(root)
	var dirs []string
	for _, e := range entries {
		if _, ok := parseVersion(e.Name()); ok && checkBinDir(filepath.Join(root, e.Name(), "bin")) == nil {
			dirs = append(dirs, e.Name())
		}
	}
	if len(dirs) == 0 {
		return ""
	}
	newest := slices.MaxFunc(dirs, func(a, b string) int {
		va, _ := parseVersion(a)
		vb, _ := parseVersion(b)
		return slices.Compare(va, vb)
	})
	return filepath.Join(root, newest, "bin")
}

// parseVersion turns "15" or "9.6" into comparable numbers, so 10 > 9.6.
func parseVersion(s string) ([]int, bool) {
	var v []int
	for part := range strings.SplitSeq(s, ".") {
		n, err := strconv.Atoi(part)
		if err != nil || n < 0 {
			return nil, false
		}
		v = append(v, n)
	}
	return v, true
}

// checkBinDir reports the first required binary missing from dir.
func checkBinDir(dir string) error {
	for _, name := range requiredBins {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			return fmt.Errorf("%s has no executable %s: %s", dir, name, installHint)
		}
	}
	return nil
}
