package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// snapshot is the JSON file: the effective credentials and the whole world.
type snapshot struct {
	Version int            `json:"version"`
	Saved   time.Time      `json:"saved"`
	Config  snapshotConfig `json:"config"`
	World   *world         `json:"world"`
}

type snapshotConfig struct {
	Corp        CorpConfig        `json:"corp"`
	Official    OfficialConfig    `json:"official"`
	MiniProgram MiniProgramConfig `json:"mini_program"`
}

const snapshotVersion = 1

// loadSnapshot reads path; a missing file (or no path) is an empty snapshot.
func loadSnapshot(path string) (snapshot, error) {
	if path == "" {
		return snapshot{}, nil
	}
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return snapshot{}, nil
	}
	if err != nil {
		return snapshot{}, fmt.Errorf("sandbox: read snapshot: %w", err)
	}
	var snap snapshot
	if err := json.Unmarshal(raw, &snap); err != nil {
		return snapshot{}, fmt.Errorf("sandbox: parse snapshot %s: %w", path, err)
	}
	if snap.Version != snapshotVersion {
		return snapshot{}, fmt.Errorf("sandbox: snapshot %s has version %d, want %d", path, snap.Version, snapshotVersion)
	}
	if snap.World != nil {
		snap.World.reindex()
	}
	return snap, nil
}

// SaveSnapshot writes the snapshot file now (no-op without SnapshotPath).
// The file is replaced atomically so a crash never leaves half a demo.
func (s *Sandbox) SaveSnapshot() error {
	if s.opts.SnapshotPath == "" {
		return nil
	}
	s.mu.Lock()
	raw, err := json.Marshal(snapshot{Version: snapshotVersion, Saved: s.now(), World: s.w,
		Config: snapshotConfig{Corp: s.opts.Corp, Official: s.opts.Official, MiniProgram: s.opts.MiniProgram}})
	s.dirty = false
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("sandbox: encode snapshot: %w", err)
	}
	tmp := s.opts.SnapshotPath + ".tmp"
	if err := os.MkdirAll(filepath.Dir(s.opts.SnapshotPath), 0o755); err != nil {
		return fmt.Errorf("sandbox: snapshot dir: %w", err)
	}
	if err := os.WriteFile(tmp, raw, 0o600); err != nil {
		return fmt.Errorf("sandbox: write snapshot: %w", err)
	}
	if err := os.Rename(tmp, s.opts.SnapshotPath); err != nil {
		return fmt.Errorf("sandbox: write snapshot: %w", err)
	}
	return nil
}

// snapshotLoop writes dirty state every SnapshotInterval.
func (s *Sandbox) snapshotLoop(ctx context.Context) {
	defer s.done.Done()
	if s.opts.SnapshotPath == "" {
		return
	}
	tick := time.NewTicker(s.opts.SnapshotInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			s.mu.Lock()
			dirty := s.dirty
			s.mu.Unlock()
			if dirty {
				if err := s.SaveSnapshot(); err != nil {
					s.log.Error("sandbox: snapshot", "err", err)
				}
			}
		}
	}
}
