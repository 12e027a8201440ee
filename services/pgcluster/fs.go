package pgcluster

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// maxSocketPath is the longest socket path the kernel accepts: sun_path is
// 108 bytes including the terminating NUL.
const maxSocketPath = 107

// socketName is the socket file the server creates in its socket directory.
var socketName = fmt.Sprintf(".s.PGSQL.%d", Port)

// serverCredential returns the identity to run the server as: the postgres
// user when we are root (initdb and postgres refuse to run as root), else nil,
// meaning the current user.
func serverCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("pgcluster: running as root needs a postgres system user to run the server as: %w", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("pgcluster: postgres user: %w", err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// chooseSocketDir returns explicit, else dataDir when the socket path fits,
// else a short directory in /tmp derived from dataDir, so that it is the same
// on every start and a restarted app finds its running server.
func chooseSocketDir(explicit, dataDir string) (string, error) {
	dir := explicit
	if dir == "" {
		dir = dataDir
		if len(filepath.Join(dir, socketName)) > maxSocketPath {
			sum := sha256.Sum256([]byte(dataDir))
			dir = "/tmp/ma-pg-" + hex.EncodeToString(sum[:6])
		}
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("pgcluster: socket dir: %w", err)
	}
	if len(filepath.Join(dir, socketName)) > maxSocketPath {
		return "", fmt.Errorf("pgcluster: socket dir %s: path of %s longer than %d bytes", dir, socketName, maxSocketPath)
	}
	return dir, nil
}

// uid returns the user the server runs as.
func (c *Cluster) uid() int {
	if c.cred == nil {
		return os.Geteuid()
	}
	return int(c.cred.Uid)
}

// chown gives path to the server user; a no-op unless we are root.
func (c *Cluster) chown(path string) error {
	if c.cred == nil {
		return nil
	}
	if err := os.Lchown(path, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	return nil
}

// prepare creates what the server needs around its data directory: the
// parent, the socket directory and the log file, all reachable by the
// server user.
func (c *Cluster) prepare() error {
	parent := filepath.Dir(c.opts.DataDir)
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	if err := c.ensureTraversable(parent); err != nil {
		return err
	}
	if c.socketDir != c.opts.DataDir {
		if err := c.ensureSocketDir(); err != nil {
			return err
		}
	}
	return c.ensureLogFile()
}

// ensureTraversable adds o+x to dir and its ancestors where missing, so the
// postgres user can reach the data directory when we are root. Only search
// permission is added: directory listings stay private. The parents of
// t.TempDir() are 0700, for example.
func (c *Cluster) ensureTraversable(dir string) error {
	if c.cred == nil {
		return nil
	}
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("pgcluster: %w", err)
		}
		if fi.Mode()&0o001 == 0 {
			if err := os.Chmod(d, fi.Mode().Perm()|0o001); err != nil {
				return fmt.Errorf("pgcluster: %w", err)
			}
			c.log.Info("pgcluster: made directory traversable for the postgres user", "dir", d)
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

// ensureSocketDir creates the socket directory 0700 for the server user. An
// existing one must belong to that user: in /tmp anybody could have made it
// first, and whoever owns it could intercept connections.
func (c *Cluster) ensureSocketDir() error {
	dir := c.socketDir
	if err := os.Mkdir(dir, 0o700); err == nil {
		c.log.Info("pgcluster: created socket directory", "dir", dir, "data_dir", c.opts.DataDir)
		if err := c.chown(dir); err != nil {
			return err
		}
	} else if !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("pgcluster: socket dir: %w", err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("pgcluster: socket dir: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !fi.IsDir() || !ok || int(st.Uid) != c.uid() {
		return fmt.Errorf("pgcluster: socket dir %s is not a directory owned by uid %d; remove it", dir, c.uid())
	}
	return c.ensureTraversable(filepath.Dir(dir))
}

// ensureLogFile creates the server log writable by the server user; pg_ctl
// appends to it from a shell running as that user.
func (c *Cluster) ensureLogFile() error {
	f, err := os.OpenFile(c.logFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("pgcluster: log file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("pgcluster: log file: %w", err)
	}
	return c.chown(c.logFile)
}

// logTail returns the last lines of the server log, which say why a start
// failed far better than pg_ctl does.
func (c *Cluster) logTail() string {
	const maxBytes, maxLines = 4096, 15
	f, err := os.Open(c.logFile)
	if err != nil {
		return ""
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > maxBytes {
		_, _ = f.Seek(-maxBytes, io.SeekEnd)
	}
	b, _ := io.ReadAll(f)
	lines := strings.Split(string(bytes.TrimSpace(b)), "\n")
	if len(lines) > maxLines {
		lines = lines[len(lines)-maxLines:]
	}
	return strings.Join(lines, "\n")
}

// syncDir makes a rename inside dir durable.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
