package host

import (
	"net/http"
	"testing"
)

// TestProjectPathWithoutSlash checks that /__project/<id> redirects to
// /__project/<id>/ (query kept) instead of serving the project's index
// there, where its relative links would resolve outside the project.
func TestProjectPathWithoutSlash(t *testing.T) {
	t.Parallel()
	th := newTestHost(t)
	p := th.createProject("slash")
	th.deploy(p.ID, siteFiles{"/index.html": `<link rel="stylesheet" href="style.css">`, "/style.css": "body{}"})
	noFollow := *th.srv.Client()
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	tests := []struct {
		path     string
		status   int
		location string
	}{
		{"/__project/" + p.ID, http.StatusPermanentRedirect, "/__project/" + p.ID + "/"},
		{"/__project/" + p.ID + "?a=1", http.StatusPermanentRedirect, "/__project/" + p.ID + "/?a=1"},
		{"/__project/" + p.ID + "/", http.StatusOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, err := noFollow.Get(th.srv.URL + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.status || resp.Header.Get("Location") != tt.location {
				t.Errorf("GET %s: %d Location %q, want %d %q", tt.path, resp.StatusCode, resp.Header.Get("Location"), tt.status, tt.location)
			}
		})
	}
}
