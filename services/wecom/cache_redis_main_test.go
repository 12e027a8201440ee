package wecom

import (
	"testing"

	"github.com/marketing-assistant/assistant/services/pgtest"
)

// The shared-cache suite runs PGCache on a real PostgreSQL; the cluster
// starts only when a test asks for a database, so the other tests of the
// package pay nothing.
func TestMain(m *testing.M) { pgtest.Main(m) }
