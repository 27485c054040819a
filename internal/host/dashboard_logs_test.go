package host

import (
	"bufio"
	"context"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cfdeploy/cfdeploy/pkg/api"
)

// dashboardLogWorker logs a line with markup in it on every request.
const dashboardLogWorker = `export default {
  async fetch(request) {
    console.log("dashboard sees <b>" + new URL(request.url).pathname + "</b>");
    return new Response("ok");
  },
};
`

// TestDashboardLogs shows a project's server-code log on its logs page,
// escaped, and follows it: a line logged after the page opened arrives
// in the same answer.
func TestDashboardLogs(t *testing.T) {
	t.Parallel()
	th := newTestHost(t)
	p := th.createProject("logger")
	th.deploy(p.ID, siteFiles{"/index.html": "home"}, func(r *api.DeployRequest) {
		r.ServerCode = &api.ServerCode{Entrypoint: "index.js", Modules: map[string]api.Module{
			"index.js": {Content: base64.StdEncoding.EncodeToString([]byte(dashboardLogWorker))},
		}}
	})
	if resp, body := th.fetch(p.ID+".localhost", "/first"); resp.StatusCode != http.StatusOK {
		t.Fatalf("server code: %s %s", resp.Status, body)
	}
	br := th.browser()
	br.signIn(testToken)
	resp, body := br.send("GET", "/__dashboard/projects/"+p.ID+"/logs", nil)
	wantStatus(t, "logs page", resp, body, http.StatusOK)
	if !strings.Contains(body, "dashboard sees &lt;b&gt;/first&lt;/b&gt;") || strings.Contains(body, "<b>/first</b>") {
		t.Fatalf("the logs page does not show the line, escaped:\n%s", body)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", th.srv.URL+"/__dashboard/projects/"+p.ID+"/logs?follow=1", nil)
	req.Host = "localhost"
	req.AddCookie(br.cookie)
	fresp, err := th.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer fresp.Body.Close()
	if fresp.StatusCode != http.StatusOK {
		t.Fatalf("follow: %s", fresp.Status)
	}
	sc := bufio.NewScanner(fresp.Body)
	asked := false
	for sc.Scan() {
		line := sc.Text()
		if strings.Contains(line, "/first") && !asked {
			asked = true
			if resp, _ := th.fetch(p.ID+".localhost", "/second"); resp.StatusCode != http.StatusOK {
				t.Fatalf("server code: %s", resp.Status)
			}
		}
		if strings.Contains(line, "dashboard sees &lt;b&gt;/second") {
			return
		}
	}
	t.Fatalf("the followed page ended without the new line: %v", sc.Err())
}
