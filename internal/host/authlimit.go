package host

import (
	"net/netip"
	"sync"
	"time"
)

// Defaults of the authentication-failure limiter.
const (
	defaultAuthFailLimit   = 20
	defaultAuthFailWindow  = time.Minute
	defaultAuthFailClients = 10000
)

// authLimiter counts failed authentications per client and refuses a client
// that failed too often, until its window ends. Without it an API token the
// operator chose by hand could be guessed at the speed of the network.
//
// It counts in fixed windows: a client's first failure opens a window of
// the configured length, and a client with limit failures in its window is
// refused until the window closes. Only failures are counted, so clients
// that authenticate never come near the limit. Memory is bounded by max
// tracked clients; when the table is full, closed windows are dropped and,
// failing that, the window closest to its end.
type authLimiter struct {
	limit  int
	window time.Duration
	max    int

	mu      sync.Mutex
	clients map[netip.Prefix]*failWindow
}

type failWindow struct {
	n   int
	end time.Time
}

func newAuthLimiter(limit int, window time.Duration, max int) *authLimiter {
	return &authLimiter{limit: limit, window: window, max: max, clients: map[netip.Prefix]*failWindow{}}
}

// clientKey groups the addresses one client is likely to hold: an IPv4
// address alone, an IPv6 address by its /64, which one subscriber usually
// gets whole. addr is "ip:port" or a bare IP.
func clientKey(addr string) netip.Prefix {
	var ip netip.Addr
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		ip = ap.Addr()
	} else if a, err := netip.ParseAddr(addr); err == nil {
		ip = a
	} else {
		return netip.Prefix{} // unparseable addresses share one entry
	}
	ip = ip.Unmap().WithZone("")
	bits := 32
	if ip.Is6() {
		bits = 64
	}
	p, _ := ip.Prefix(bits)
	return p
}

// blocked reports whether key must wait, and for how long.
func (l *authLimiter) blocked(key netip.Prefix, now time.Time) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	w, ok := l.clients[key]
	if !ok || !now.Before(w.end) {
		return 0, false
	}
	if w.n < l.limit {
		return 0, false
	}
	return w.end.Sub(now), true
}

// fail records a failed authentication of key.
func (l *authLimiter) fail(key netip.Prefix, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	w, ok := l.clients[key]
	if !ok {
		if len(l.clients) >= l.max {
			l.evict(now)
		}
		w = &failWindow{}
		l.clients[key] = w
	}
	if !now.Before(w.end) {
		w.n, w.end = 0, now.Add(l.window)
	}
	w.n++
}

// evict makes room for one client: it drops every closed window, or when
// none has closed, the one that closes first.
func (l *authLimiter) evict(now time.Time) {
	var first netip.Prefix
	var firstEnd time.Time
	for k, w := range l.clients {
		if !now.Before(w.end) {
			delete(l.clients, k)
			continue
		}
		if firstEnd.IsZero() || w.end.Before(firstEnd) {
			first, firstEnd = k, w.end
		}
	}
	if len(l.clients) >= l.max {
		delete(l.clients, first)
	}
}

// tracked returns how many clients the limiter holds, for tests.
func (l *authLimiter) tracked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.clients)
}
