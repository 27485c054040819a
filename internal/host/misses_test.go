package host

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/cfdeploy/cfdeploy/pkg/api"
)

// unknownNames are requests, host and path, for names that name no
// project: a slug-shaped subdomain, an id-shaped one, a preview of an
// unknown project, the same by path, and a custom domain nobody added.
func unknownNames() [][2]string {
	id := uuid.NewString()
	return [][2]string{
		{"nosuch.localhost", "/"},
		{id + ".localhost", "/index.html"},
		{"abcdef12--ghost.localhost", "/"},
		{"127.0.0.1", "/__project/" + uuid.NewString() + "/"},
		{"127.0.0.1", "/__project/phantom/x"},
		{"127.0.0.1", "/__project/" + strings.Repeat("Long", 300) + "/"},
		{"www.unknown.test", "/"},
	}
}

// TestReplicaUnknownNamesTouchDatabaseOnce: a replica asked again and
// again, one at a time and many at once, for names that name no project
// asks PostgreSQL once per name (twice for an id: its deployment, then
// the project), and nothing for the repeats.
func TestReplicaUnknownNamesTouchDatabaseOnce(t *testing.T) {
	t.Parallel()
	th := newReplicas(t, 1)[0]
	// The background jobs and the change feed query on their own
	// schedule; stopped, they leave only what requests do.
	th.h.stop()
	th.h.wg.Wait()
	for _, n := range unknownNames() {
		host, path := n[0], n[1]
		t.Run(host+path[:min(len(path), 40)], func(t *testing.T) {
			before := th.h.pg.Acquires()
			var wg sync.WaitGroup
			for range 16 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if resp, _ := th.fetch(host, path); resp.StatusCode != http.StatusNotFound {
						t.Errorf("status %d, want 404", resp.StatusCode)
					}
				}()
			}
			wg.Wait()
			first := th.h.pg.Acquires() - before
			if first > 2 {
				t.Fatalf("16 concurrent requests for one unknown name took %d database connections, want at most 2", first)
			}
			before = th.h.pg.Acquires()
			for range 50 {
				th.fetch(host, path)
			}
			if n := th.h.pg.Acquires() - before; n != 0 {
				t.Fatalf("50 repeated requests for an unknown name took %d database connections, want 0", n)
			}
		})
	}
}

// TestReplicaProjectCreatedAfterMissIsServed: a replica that answered 404
// for a slug serves the project another replica then creates under it,
// by subdomain and by path, as soon as the change feed reports it.
func TestReplicaProjectCreatedAfterMissIsServed(t *testing.T) {
	t.Parallel()
	r := newReplicas(t, 2)
	a, b := r[0], r[1]
	// Once b serves a deploy made on a, its change feed is live (it
	// forgets everything when it first connects).
	w := a.createProject("warm")
	a.deploy(w.ID, siteFiles{"/index.html": "warm"})
	eventually(t, 20*time.Second, "the change feed live", func() bool {
		_, body := b.fetch(w.ID+".localhost", "/")
		return body == "warm"
	})
	for _, u := range []string{"late.localhost/", "127.0.0.1/__project/late/"} {
		host, path, _ := strings.Cut(u, "/")
		if resp, _ := b.fetch(host, "/"+path); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("%s before create: %d", u, resp.StatusCode)
		}
	}
	resp, body := a.do("POST", "/__api/projects", api.CreateProjectRequest{Name: "late", Slug: "late"})
	p := want[api.ProjectResponse](t, resp, body, http.StatusCreated).Project
	// Created, not deployed: its own change, not a deploy's, must reach
	// the other replica.
	eventually(t, 20*time.Second, "the created project known on the other replica", func() bool {
		_, body := b.fetch("late.localhost", "/")
		return strings.Contains(body, "nothing deployed")
	})
	a.deploy(p.ID, siteFiles{"/index.html": "arrived"})
	for _, u := range []string{"late.localhost/", "127.0.0.1/__project/late/"} {
		host, path, _ := strings.Cut(u, "/")
		took := eventually(t, 20*time.Second, u+" served on the other replica", func() bool {
			_, body := b.fetch(host, "/"+path)
			return body == "arrived"
		})
		t.Logf("%s served %v after the deploy", u, took)
	}
}

// TestProjectCreatedOrRenamedAfterMissIsServed: on one host, a slug
// answered 404 serves the project created with it, or renamed to it,
// on the next request.
func TestProjectCreatedOrRenamedAfterMissIsServed(t *testing.T) {
	t.Parallel()
	th := newTestHost(t)
	for _, host := range []string{"fresh.localhost", "moved.localhost"} {
		if resp, _ := th.fetch(host, "/"); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("%s before: %d", host, resp.StatusCode)
		}
	}
	resp, body := th.do("POST", "/__api/projects", api.CreateProjectRequest{Name: "fresh", Slug: "fresh"})
	p := want[api.ProjectResponse](t, resp, body, http.StatusCreated).Project
	th.deploy(p.ID, siteFiles{"/index.html": "fresh"})
	if _, body := th.fetch("fresh.localhost", "/"); body != "fresh" {
		t.Fatalf("created project by slug: %q", body)
	}
	q := th.createProject("other")
	th.deploy(q.ID, siteFiles{"/index.html": "moved"})
	resp, body = th.do("PATCH", "/__api/projects/"+q.ID, api.UpdateProjectRequest{Slug: ptr("moved")})
	want[api.ProjectResponse](t, resp, body, http.StatusOK)
	if _, body := th.fetch("moved.localhost", "/"); body != "moved" {
		t.Fatalf("renamed project by slug: %q", body)
	}
}

// TestUnknownNamesCacheIsBounded: however many distinct unknown names
// strangers ask for, the cache keeps at most its limit, and no entry is
// longer than a digest, however long the name.
func TestUnknownNamesCacheIsBounded(t *testing.T) {
	t.Parallel()
	th := newTestHost(t, func(c *Config) { c.MaxCachedMisses = 8 })
	for i := range 100 {
		name := "ghost" + strings.Repeat("x", i%20) + string(rune('a'+i%26)) + string(rune('a'+i/26))
		if resp, _ := th.fetch(name+".localhost", "/"); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("%s: %d", name, resp.StatusCode)
		}
		th.fetch("127.0.0.1", "/__project/"+strings.Repeat(name, 100)+"/")
	}
	m := th.h.sites.misses
	if n := m.len(); n == 0 || n > 8 {
		t.Fatalf("cache holds %d names, want 1 to 8", n)
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	for k := range m.m {
		if len(k) > 2*missKeyLen {
			t.Fatalf("an entry of %d bytes", len(k))
		}
	}
}
