package services

import (
	"os"
	"testing"
)

// TestSegmentExplain100k logs the plans of the slower filters at 100k
// users (SEG_EXPLAIN=1 go test -run SegmentExplain100k -v ./services/).
func TestSegmentExplain100k(t *testing.T) {
	if os.Getenv("SEG_EXPLAIN") == "" {
		t.Skip("set SEG_EXPLAIN=1 to load 100k users and print the plans")
	}
	db := loadSegmentBench(t)
	for _, n := range []string{"form", "not_form", "has_oa_phone", "active_30d", "inactive", "channel", "combined"} {
		t.Log(n)
		explainSegment(t, db, benchFilters[n])
	}
}
