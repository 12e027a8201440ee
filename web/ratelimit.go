package web

import (
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/time/rate"

	"github.com/marketing-assistant/assistant/services"
)

// Limiter is a token bucket per key (client IP, phone hash, openid...), kept
// in memory and forgotten after idle minutes. It protects one instance from
// bursts; durable limits that must hold across instances are counted in SQL.
type Limiter struct {
	mu      sync.Mutex
	every   rate.Limit
	burst   int
	buckets map[string]*bucket
	idle    time.Duration
	lastGC  time.Time
	now     func() time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

// NewLimiter allows burst events at once and then one per interval, per key.
func NewLimiter(interval time.Duration, burst int) *Limiter {
	return &Limiter{every: rate.Every(interval), burst: burst, buckets: map[string]*bucket{}, idle: 10 * time.Minute, now: time.Now}
}

// Allow reports whether one more event for key is allowed now.
func (l *Limiter) Allow(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if now.Sub(l.lastGC) > l.idle {
		for k, b := range l.buckets {
			if now.Sub(b.seen) > l.idle {
				delete(l.buckets, k)
			}
		}
		l.lastGC = now
	}
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{lim: rate.NewLimiter(l.every, l.burst)}
		l.buckets[key] = b
	}
	b.seen = now
	return b.lim.AllowN(now, 1)
}

// LimitByIP refuses requests beyond the limiter's rate per client IP with 429
// and a friendly message. The IP honours TRUSTED_PROXIES (see NewEngine).
func LimitByIP(l *Limiter, message string) gin.HandlerFunc {
	return func(c *gin.Context) {
		if !l.Allow(c.ClientIP()) {
			c.Header("Retry-After", "60")
			Fail(c, services.Errorf(services.ERATELIMIT, "%s", message))
			c.Abort()
			return
		}
		c.Next()
	}
}
