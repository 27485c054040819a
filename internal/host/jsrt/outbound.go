package jsrt

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// Outbound policies of fetch() from JS server code.
const (
	OutboundNone   = "none"   // no address at all (but the allowed ones)
	OutboundPublic = "public" // public addresses only
	OutboundAll    = "all"    // any address, the host's own network included
)

// maxRedirects is how many redirects a fetch() follows, as browsers do.
const maxRedirects = 20

// Outbound sends the fetch() subrequests of JS server code. Under the
// public policy a connection may only go to a public address: the check is
// made on the address actually dialled, after DNS resolution, so a name
// that resolves (or re-resolves) to a private address is refused, and
// every redirect is dialled under the same check.
type Outbound struct {
	mode   string
	allow  map[string]bool // host:port, lower-case
	client *http.Client
}

// NewOutbound returns the client for a policy and the HOST:PORT pairs that
// are allowed whatever it says (an internal API the operator trusts).
func NewOutbound(mode string, allow []string) (*Outbound, error) {
	switch mode {
	case "":
		mode = OutboundPublic
	case OutboundNone, OutboundPublic, OutboundAll:
	default:
		return nil, fmt.Errorf("outbound policy %q is not none, public or all", mode)
	}
	o := &Outbound{mode: mode, allow: map[string]bool{}}
	for _, a := range allow {
		host, port, err := net.SplitHostPort(strings.TrimSpace(a))
		if err != nil || host == "" || port == "" {
			return nil, fmt.Errorf("outbound allow entry %q is not HOST:PORT", a)
		}
		o.allow[strings.ToLower(net.JoinHostPort(host, port))] = true
	}
	guarded := &net.Dialer{Timeout: 10 * time.Second, Control: checkDial}
	open := &net.Dialer{Timeout: 10 * time.Second}
	tr := &http.Transport{
		Proxy: nil, // never the host's proxy settings: the policy is about where tenants reach
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			switch {
			case o.allow[strings.ToLower(addr)], o.mode == OutboundAll:
				return open.DialContext(ctx, network, addr)
			case o.mode == OutboundNone:
				return nil, fmt.Errorf("outbound connections are turned off on this host (--worker-outbound none)")
			}
			return guarded.DialContext(ctx, network, addr)
		},
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           100,
		MaxIdleConnsPerHost:    4,
		IdleConnTimeout:        30 * time.Second,
		TLSHandshakeTimeout:    10 * time.Second,
		MaxResponseHeaderBytes: 64 << 10,
	}
	o.client = &http.Client{
		Transport: tr,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if ManualRedirect(req) {
				return http.ErrUseLastResponse
			}
			if len(via) >= maxRedirects {
				return fmt.Errorf("more than %d redirects", maxRedirects)
			}
			return nil
		},
	}
	return o, nil
}

// Do sends r under the policy; its context bounds the whole exchange.
func (o *Outbound) Do(r *http.Request) (*http.Response, error) {
	if r.URL.Scheme != "http" && r.URL.Scheme != "https" {
		return nil, fmt.Errorf("scheme %q is not http or https", r.URL.Scheme)
	}
	return o.client.Do(r)
}

// Close drops idle connections.
func (o *Outbound) Close() { o.client.CloseIdleConnections() }

// errNotPublic is a dial refused by the public policy.
var errNotPublic = errors.New("address is not public (--worker-outbound public refuses loopback, private, link-local, shared and reserved ranges)")

// checkDial refuses a connection to an address that is not public. It runs
// on the resolved address just before connecting.
func checkDial(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("dial %s: %w", address, err)
	}
	if !IsPublic(ap.Addr()) {
		return fmt.Errorf("dial %s: %w", address, errNotPublic)
	}
	return nil
}

// notPublic are the ranges outside the public internet that
// netip.Addr's predicates do not name: shared address space (CGNAT),
// IETF protocol assignments, benchmarking, documentation, 6to4 relays,
// reserved, and IPv6 translation and tunnelling prefixes that embed an
// IPv4 address.
var notPublic = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8", "100.64.0.0/10", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "198.18.0.0/15",
		"198.51.100.0/24", "203.0.113.0/24", "240.0.0.0/4",
		"64:ff9b::/96", "64:ff9b:1::/48", "100::/64", "2001::/23", "2001:db8::/32", "2002::/16", "3fff::/20", "5f00::/16",
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// IsPublic reports whether a connection to a may leave the host's own
// networks: not loopback, private (RFC 1918, IPv6 ULA), link-local (the
// cloud metadata address 169.254.169.254 among them), multicast,
// unspecified, or one of the special ranges above.
func IsPublic(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsValid() || a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified() || !a.IsGlobalUnicast() {
		return false
	}
	for _, p := range notPublic {
		if p.Contains(a) {
			return false
		}
	}
	return true
}
