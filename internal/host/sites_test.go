package host

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
)

// TestSiteBuiltOnce: a burst of first requests for a large deployment not
// yet built waits for one build instead of each building it.
func TestSiteBuiltOnce(t *testing.T) {
	t.Parallel()
	th := newTestHost(t)
	p := th.createProject("big")
	// Many paths, one blob: a build costs per path, the upload per blob.
	files := siteFiles{}
	for i := range 20000 {
		files[fmt.Sprintf("/p/%05d.html", i)] = "same page"
	}
	th.deploy(p.ID, files)
	before := th.h.sites.built.Load()
	const requests = 50
	var wg sync.WaitGroup
	start := make(chan struct{})
	statuses := make(chan int, requests)
	for i := range requests {
		wg.Go(func() {
			<-start
			resp, _ := th.fetch(p.ID+".localhost", fmt.Sprintf("/p/%05d", i))
			statuses <- resp.StatusCode
		})
	}
	close(start)
	wg.Wait()
	close(statuses)
	for s := range statuses {
		if s != http.StatusOK {
			t.Fatalf("status %d, want 200", s)
		}
	}
	if n := th.h.sites.built.Load() - before; n != 1 {
		t.Fatalf("%d concurrent first requests built the site %d times, want once", requests, n)
	}
}

// TestSiteCacheForgetsDeletedProjects: the cache keeps nothing for projects
// that are gone, however many come and go.
func TestSiteCacheForgetsDeletedProjects(t *testing.T) {
	t.Parallel()
	th := newTestHost(t)
	for i := range 50 {
		p := th.createProject(fmt.Sprintf("short-lived %d", i))
		th.deploy(p.ID, siteFiles{"/index.html": "hello"})
		if resp, _ := th.fetch(p.ID+".localhost", "/"); resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d, want 200", resp.StatusCode)
		}
		if resp, body := th.do("DELETE", "/__api/projects/"+p.ID, nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("delete: %d %s", resp.StatusCode, body)
		}
		if resp, _ := th.fetch(p.ID+".localhost", "/"); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("deleted project: status %d, want 404", resp.StatusCode)
		}
	}
	c := th.h.sites
	c.mu.RLock()
	defer c.mu.RUnlock()
	if len(c.m) != 0 || len(c.inflight) != 0 {
		t.Fatalf("after 50 projects were deleted the site cache holds %d sites and %d builds, want none", len(c.m), len(c.inflight))
	}
}
