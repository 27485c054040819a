package host

import (
	"container/list"
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
// tracked clients. The clients are also kept in the order their windows
// close (every window has the same length, so that is the order they
// opened): when the table is full, the window that closes first (closed
// ones before all others) makes room, in constant time, so that an
// attacker with many addresses cannot make each failure cost a scan.
type authLimiter struct {
	limit  int
	window time.Duration
	max    int

	mu      sync.Mutex
	clients map[netip.Prefix]*list.Element // of *failWindow
	byEnd   *list.List                     // *failWindow, earliest end first
}

type failWindow struct {
	key netip.Prefix
	n   int
	end time.Time
}

func newAuthLimiter(limit int, window time.Duration, max int) *authLimiter {
	return &authLimiter{limit: limit, window: window, max: max,
		clients: map[netip.Prefix]*list.Element{}, byEnd: list.New()}
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
	e, ok := l.clients[key]
	if !ok {
		return 0, false
	}
	w := e.Value.(*failWindow)
	if w.n < l.limit || !now.Before(w.end) {
		return 0, false
	}
	return w.end.Sub(now), true
}

// fail records a failed authentication of key. It returns the end of the
// window when this failure is the one that reaches the limit, so that the
// refusal is logged once, and the zero time otherwise.
func (l *authLimiter) fail(key netip.Prefix, now time.Time) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.clients[key]
	if !ok {
		if len(l.clients) >= l.max {
			first := l.byEnd.Front()
			delete(l.clients, l.byEnd.Remove(first).(*failWindow).key)
		}
		e = l.byEnd.PushBack(&failWindow{key: key})
		l.clients[key] = e
	}
	w := e.Value.(*failWindow)
	if !now.Before(w.end) {
		w.n, w.end = 0, now.Add(l.window)
		l.byEnd.MoveToBack(e)
	}
	w.n++
	if w.n == l.limit {
		return w.end
	}
	return time.Time{}
}

// tracked returns how many clients the limiter holds, for tests.
func (l *authLimiter) tracked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.clients)
}
