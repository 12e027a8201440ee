package redistest

import (
	"os"
	"testing"
)

// A server answers on its socket, goes away on Stop (socket removed, so
// clients fail at once) and comes back empty on Start.
func TestStartStopStart(t *testing.T) {
	s := Start(t)
	if err := ping(s.Socket()); err != nil {
		t.Fatalf("not answering: %v", err)
	}
	s.Stop(t)
	if err := ping(s.Socket()); err == nil {
		t.Fatal("still answering after Stop")
	}
	if _, err := os.Stat(s.Socket()); !os.IsNotExist(err) {
		t.Fatalf("socket left behind: %v", err)
	}
	s.Start(t)
	if err := ping(s.Socket()); err != nil {
		t.Fatalf("not answering after Start: %v", err)
	}
	if s.URL() != "unix://"+s.Socket() {
		t.Fatalf("URL = %s", s.URL())
	}
}
