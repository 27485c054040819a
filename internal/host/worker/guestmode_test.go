package worker

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// guestProgram prepares a guest-mode guest as one deployment of a tenant.
func guestProgram(t *testing.T, rt *Runtime, name, tenant, deployment string) Program {
	t.Helper()
	p, _ := program(t, rt, name)
	p.Tenant, p.Deployment, p.Name = tenant, deployment, tenant
	return p
}

func TestGuestModeStatePersistsPerDeployment(t *testing.T) {
	t.Parallel()
	rt, _ := newRuntime(t, Config{Concurrency: 2, TenantConcurrency: 1})
	a := guestProgram(t, rt, "counter", "proj-a", "dep-1")
	srvA, _ := serveProgram(t, rt, a)
	for want := 1; want <= 3; want++ {
		res, body := get(t, srvA.URL+"/")
		if res.StatusCode != http.StatusOK || body != "count="+itoa(want)+"\n" {
			t.Fatalf("request %d to proj-a: %d %q", want, res.StatusCode, body)
		}
	}

	// Same module, another project: its own instance, never a's state.
	// (Built from a's Program: preparing the module again would replace
	// its compiled code, and with it every pool, like a redeploy.)
	b := a
	b.Tenant, b.Deployment, b.Name = "proj-b", "dep-9", "proj-b"
	srvB, _ := serveProgram(t, rt, b)
	if _, body := get(t, srvB.URL+"/"); body != "count=1\n" {
		t.Fatalf("proj-b sees %q, want a fresh count=1", body)
	}
	if _, body := get(t, srvA.URL+"/"); body != "count=4\n" {
		t.Fatalf("proj-a after proj-b: %q, want count=4", body)
	}

	// A new deployment of a starts afresh and the old one's pool is gone.
	a2 := a
	a2.Deployment = "dep-2"
	srvA2, _ := serveProgram(t, rt, a2)
	if _, body := get(t, srvA2.URL+"/"); body != "count=1\n" {
		t.Fatalf("proj-a dep-2 sees %q, want count=1", body)
	}
}

func TestGuestModeRequest(t *testing.T) {
	t.Parallel()
	rt, _ := newRuntime(t, Config{})
	p := guestProgram(t, rt, "counter", "proj", "dep")
	srv, ah := serveProgram(t, rt, p)

	req, err := http.NewRequest(http.MethodPost, srv.URL+"/echo?x=1", strings.NewReader("payload"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Test", "yes")
	res, body := do(t, req)
	if res.StatusCode != http.StatusCreated || body != "payload" ||
		res.Header.Get("X-Method") != "POST" || res.Header.Get("X-Greeting") != "hello" ||
		res.Header.Get("X-Query") != "x=1" || res.Header.Get("X-Header") != "yes" {
		t.Fatalf("echo: %d %q %v", res.StatusCode, body, res.Header)
	}

	res, body = get(t, srv.URL+"/asset")
	if res.StatusCode != http.StatusOK || body != "static asset\n" || res.Header.Get("X-Asset-Pipeline") != "1" {
		t.Fatalf("hand-off: %d %q %v (asset requests %v)", res.StatusCode, body, res.Header, ah.requests())
	}
}

func TestGuestModeFailedInstanceIsReplaced(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, path string
		status     int
	}{
		{"panic", "/panic", http.StatusBadGateway},
		{"loop", "/loop", http.StatusGatewayTimeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt, logs := newRuntime(t, Config{Timeout: 2 * time.Second, Concurrency: 2, TenantConcurrency: 1})
			p := guestProgram(t, rt, "counter", "proj", "dep")
			srv, _ := serveProgram(t, rt, p)
			for want := 1; want <= 2; want++ {
				if _, body := get(t, srv.URL+"/"); body != "count="+itoa(want)+"\n" {
					t.Fatalf("warm-up %d: %q", want, body)
				}
			}
			if res, body := get(t, srv.URL+tc.path); res.StatusCode != tc.status {
				t.Fatalf("%s: %d %q, want %d", tc.path, res.StatusCode, body, tc.status)
			}
			if !strings.Contains(logs.String(), "instance discarded") {
				t.Errorf("no discard logged:\n%s", logs)
			}
			// The failed instance is gone: a fresh one counts from 1.
			if res, body := get(t, srv.URL+"/"); res.StatusCode != http.StatusOK || body != "count=1\n" {
				t.Fatalf("after %s: %d %q, want a fresh instance's count=1", tc.path, res.StatusCode, body)
			}
		})
	}
}

func TestGuestModeCGIUnchanged(t *testing.T) {
	t.Parallel()
	rt, _ := newRuntime(t, Config{})
	p, _ := program(t, rt, "hello")
	srv, _ := serveProgram(t, rt, p)
	if res, body := get(t, srv.URL+"/"); res.StatusCode != http.StatusOK || body != "Hello from WebAssembly!\n" {
		t.Fatalf("CGI go-hello: %d %q", res.StatusCode, body)
	}
	g, _ := program(t, rt, "hello-guest")
	srvG, _ := serveProgram(t, rt, g)
	if res, body := get(t, srvG.URL+"/"); res.StatusCode != http.StatusOK || body != "Hello from WebAssembly!\n" {
		t.Fatalf("guest-mode go-guest: %d %q", res.StatusCode, body)
	}
	// A reactor without the guest-mode exports is still refused.
	wasm := guest(t, "reactor")
	if err := rt.Prepare(context.Background(), Hash(wasm), wasm); err == nil || !strings.Contains(err.Error(), "reactor") {
		t.Fatalf("plain reactor: %v", err)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestGuestModeEnvChangeStartsNewInstance(t *testing.T) {
	t.Parallel()
	rt, _ := newRuntime(t, Config{})
	p := guestProgram(t, rt, "counter", "proj", "dep")
	p.Env = map[string]string{"GREETING": "one"}
	srv, _ := serveProgram(t, rt, p)
	if res, _ := get(t, srv.URL+"/echo"); res.Header.Get("X-Greeting") != "one" {
		t.Fatalf("greeting %q, want one", res.Header.Get("X-Greeting"))
	}
	// The project's variable changes with no new deployment: the next
	// request must see it, not the value the pooled instance started with.
	p2 := p
	p2.Env = map[string]string{"GREETING": "two"}
	srv2, _ := serveProgram(t, rt, p2)
	if res, _ := get(t, srv2.URL+"/echo"); res.Header.Get("X-Greeting") != "two" {
		t.Fatalf("after the change, greeting %q, want two", res.Header.Get("X-Greeting"))
	}
}
