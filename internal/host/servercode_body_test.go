package host

import (
	"bufio"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cfdeploy/cfdeploy/pkg/api"
)

// TestServerCodeBodyDeadline sends a body for server code that stops after
// one byte. The host's idle watchdog would wait a minute for the next; the
// whole-body deadline of server code is shorter and must win, with a 408.
func TestServerCodeBodyDeadline(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds a wasm guest")
	}
	wasm := buildHello(t)
	th := newTestHost(t, func(c *Config) {
		c.BodyIdleTimeout = time.Minute
		c.Worker.BodyTimeout = time.Second
	})
	p := th.createProject("slow poster")
	th.deploy(p.ID, siteFiles{"/index.html": "<h1>static</h1>"}, func(r *api.DeployRequest) {
		r.ServerCode = &api.ServerCode{Entrypoint: "server.wasm", Modules: map[string]api.Module{
			"server.wasm": {Content: base64.StdEncoding.EncodeToString(wasm)},
		}}
	})
	conn, err := net.Dial("tcp", strings.TrimPrefix(th.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Far less than the idle minute: only the body deadline answers in time.
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	io.WriteString(conn, "POST /api/echo HTTP/1.1\r\nHost: "+p.ID+".localhost\r\nContent-Length: 100\r\n\r\nx")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a stalled server-code body: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Fatalf("status %d, want 408", resp.StatusCode)
	}
}
