package jsrt

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

func TestIsPublic(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]bool{
		"8.8.8.8": true, "1.1.1.1": true, "2606:4700:4700::1111": true,
		"127.0.0.1": false, "10.1.2.3": false, "172.16.0.1": false, "192.168.1.1": false, "169.254.169.254": false,
		"100.64.0.1": false, "0.0.0.0": false, "255.255.255.255": false, "224.0.0.1": false, "198.18.0.1": false,
		"::1": false, "::": false, "fc00::1": false, "fd12::1": false, "fe80::1": false, "::ffff:127.0.0.1": false,
		"::ffff:10.0.0.1": false, "64:ff9b::a00:1": false, "2002:7f00:1::": false, "2001:db8::1": false,
	} {
		if got := IsPublic(netip.MustParseAddr(addr)); got != want {
			t.Errorf("IsPublic(%s) = %v, want %v", addr, got, want)
		}
	}
}

// fetchThrough runs a handler that fetch()es url with out as the host's
// outbound client and returns what it saw: the body or the error message.
func fetchThrough(t *testing.T, r *Runtime, out *Outbound, url string) string {
	t.Helper()
	d := r.Load(jsProgram("index.js", map[string]string{"index.js": `export default { async fetch(request) {
		try {
			const res = await fetch(request.headers.get("x-target"));
			return new Response(res.status + " " + await res.text());
		} catch (e) { return new Response("error: " + e.message); }
	} };`}, nil))
	defer d.Close(context.Background())
	res, err := d.Fetch(context.Background(), &Request{Method: "GET", URL: "https://p.example/", Header: http.Header{"X-Target": {url}}, Fetch: out.Do})
	if err != nil {
		t.Fatal(err)
	}
	return string(res.Body)
}

func TestOutboundPolicy(t *testing.T) {
	t.Parallel()
	r := newTestRuntime(t, Config{})
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("internal data")) }))
	defer target.Close()
	redirector := httptest.NewServer(http.RedirectHandler(target.URL+"/x", http.StatusFound))
	defer redirector.Close()
	targetHost := strings.TrimPrefix(target.URL, "http://")
	redirHost := strings.TrimPrefix(redirector.URL, "http://")
	_, port, _ := strings.Cut(targetHost, ":")

	public, err := NewOutbound(OutboundPublic, nil)
	if err != nil {
		t.Fatal(err)
	}
	allowTarget, _ := NewOutbound(OutboundPublic, []string{targetHost})
	allowRedirector, _ := NewOutbound(OutboundPublic, []string{redirHost})
	none, _ := NewOutbound(OutboundNone, nil)
	all, _ := NewOutbound(OutboundAll, nil)
	for _, tc := range []struct {
		name string
		out  *Outbound
		url  string
		want string
	}{
		{"loopback refused", public, target.URL, "not public"},
		{"a name resolving to loopback refused", public, "http://localhost:" + port + "/", "not public"},
		{"metadata address refused", public, "http://169.254.169.254/latest/meta-data/", "not public"},
		{"allowed HOST:PORT reached", allowTarget, target.URL, "200 internal data"},
		{"redirect to loopback refused", allowRedirector, redirector.URL, "not public"},
		{"none refuses", none, target.URL, "turned off"},
		{"all reaches loopback", all, target.URL, "200 internal data"},
		{"other schemes refused", all, "file:///etc/passwd", "error:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := fetchThrough(t, r, tc.out, tc.url); !strings.Contains(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestNewOutboundRefusesBadSettings(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		mode  string
		allow []string
	}{{"private", nil}, {"public", []string{"no-port"}}, {"public", []string{":80"}}} {
		if _, err := NewOutbound(tc.mode, tc.allow); err == nil {
			t.Errorf("NewOutbound(%q, %q) accepted", tc.mode, tc.allow)
		}
	}
	if _, err := NewOutbound("", []string{"api.internal:8080", "[::1]:9"}); err != nil {
		t.Fatal(err)
	}
}
