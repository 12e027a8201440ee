package web

import (
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	l := NewLimiter(time.Minute, 2)
	now := time.Unix(1000, 0)
	l.now = func() time.Time { return now }
	if !l.Allow("a") || !l.Allow("a") || l.Allow("a") {
		t.Fatal("burst of 2 not enforced")
	}
	if !l.Allow("b") {
		t.Fatal("keys share a bucket")
	}
	now = now.Add(time.Minute)
	if !l.Allow("a") {
		t.Fatal("bucket did not refill")
	}
	now = now.Add(time.Hour)
	l.Allow("c")
	if _, ok := l.buckets["a"]; ok {
		t.Fatal("idle bucket not forgotten")
	}
}
