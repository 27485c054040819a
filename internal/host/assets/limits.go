package assets

import (
	"sync/atomic"
	"time"
)

// Limits bound what a deployment's _redirects and _headers rules may add to
// one response, whatever the rules and the request say: a rule repeating
// ":splat" must not turn a long request path into megabytes of headers.
// Zero fields take the defaults.
type Limits struct {
	// MaxSubstitution is the longest _redirects target or _headers value,
	// in bytes, that substituting captures may produce; a rule that would
	// produce more is skipped for that request. Default 16 KiB.
	MaxSubstitution int
	// MaxHeaderBytes bounds the header bytes (names and values) the
	// _headers rules set on one response; headers past it are skipped.
	// Default 64 KiB.
	MaxHeaderBytes int
}

// The defaults of Limits.
const (
	DefaultMaxSubstitution = 16 << 10
	DefaultMaxHeaderBytes  = 64 << 10
)

func (l Limits) withDefaults() Limits {
	if l.MaxSubstitution <= 0 {
		l.MaxSubstitution = DefaultMaxSubstitution
	}
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	return l
}

// ruleWarnInterval is how often a Site may log that a rule was cut: a
// request storm must not become a log storm.
const ruleWarnInterval = time.Minute

// ruleWarner rate-limits a Site's warnings about rules cut by Limits.
type ruleWarner struct {
	next       atomic.Int64 // unix nanoseconds before which nothing is logged
	suppressed atomic.Int64 // warnings not logged since the last one
}

// warnRule logs that a rule of file at line was cut, at most once per
// ruleWarnInterval per deployment, with the count of those not logged.
func (s *Site) warnRule(file string, line int, msg string) {
	now := time.Now().UnixNano()
	next := s.warner.next.Load()
	if now < next || !s.warner.next.CompareAndSwap(next, now+int64(ruleWarnInterval)) {
		s.warner.suppressed.Add(1)
		return
	}
	s.logger.Warn("rule cut by a limit", "deployment", s.id, "file", file, "line", line, "problem", msg,
		"not_logged_since_last", s.warner.suppressed.Swap(0))
}
