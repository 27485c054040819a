package host

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cfdeploy/cfdeploy/pkg/api"
)

// One project's long requests take turns: a second waits while the first
// runs and gives up when its client goes away; after the first, the next
// may not start before a pause proportional to the time it ran. Other
// projects have turns of their own.
func TestPacerTurns(t *testing.T) {
	p := newPacer(1, 0) // a pause 99 times as long as the run
	done, err := p.wait(context.Background(), "a", 0)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.wait(ctx, "a", 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("a second request of the project while the first runs: %v, want to wait (and give up when cancelled)", err)
	}
	other, err := p.wait(context.Background(), "b", 0)
	if err != nil {
		t.Fatalf("another project's request: %v, want its own turn at once", err)
	}
	other()
	start := time.Now()
	time.Sleep(20 * time.Millisecond) // the first request's work
	done()
	e := p.projects["a"]
	if ran := time.Since(start); e.next.Before(start.Add(100 * 20 * time.Millisecond)) {
		t.Errorf("next turn at +%v, want at least 100 times the %v the request ran", e.next.Sub(start), ran)
	}
	// The pause is over only after next; a cancelled request waiting for it
	// gives up and leaves the turn free.
	if _, err := p.wait(ctx, "a", 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("a request during the pause: %v, want to wait", err)
	}
	if e.refs != 0 || len(e.slot) != 0 {
		t.Errorf("after the cancelled waits: refs %d, slot held %d", e.refs, len(e.slot))
	}
}

// A share of 100 % means no pause, and out-of-range shares are clamped.
func TestPacerShare(t *testing.T) {
	for _, tt := range []struct {
		share int
		pause float64
	}{{100, 0}, {250, 0}, {25, 3}, {0, 99}} {
		if p := newPacer(tt.share, 0); p.pause != tt.pause {
			t.Errorf("share %d: pause factor %v, want %v", tt.share, p.pause, tt.pause)
		}
	}
}

// A pacer with a burst lets a project's work run unpaused until it has
// used the burst, then pauses it in proportion: here share 25 (three
// times the work) after 100 ms. Work is simulated by moving the turn's
// start back, and a cancelled context shows whether yield had to wait.
func TestPacerBurst(t *testing.T) {
	p := newPacer(25, 100*time.Millisecond)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	tn, err := p.start(context.Background(), "a")
	if err != nil {
		t.Fatalf("a quiet project's first turn: %v, want it at once", err)
	}
	tn.from = tn.from.Add(-80 * time.Millisecond) // 80 ms of work
	if err := tn.yield(cancelled); err != nil {
		t.Fatalf("after 80 ms of work, within the 100 ms burst: %v, want to go on at once", err)
	}
	tn.from = tn.from.Add(-40 * time.Millisecond) // 120 ms in all
	if err := tn.yield(cancelled); !errors.Is(err, context.Canceled) {
		t.Fatalf("after 120 ms of work, past the burst: %v, want a pause", err)
	}
	other, err := p.start(context.Background(), "b")
	if err != nil {
		t.Fatalf("another project during the pause: %v, want its own turn at once", err)
	}
	other.end()
	tn.end()
	// The 120 ms are paid for at a quarter of a core, 480 ms after the
	// work began (80 ms before start), however long the test itself took.
	if e := p.projects["a"]; e.next.Before(start.Add(400 * time.Millisecond)) {
		t.Errorf("paid up at +%v, want at least +400ms (120 ms of work at 25 %%, begun at -80ms)", e.next.Sub(start))
	}
	if _, err := p.start(cancelled, "a"); !errors.Is(err, context.Canceled) {
		t.Errorf("a new turn of the project still paying: %v, want to wait", err)
	}
}

// The work a long request did before it asked for its turn (parsing and
// normalising a 16 KB target, before the project is known) is charged
// with the turn's: without it, a project's requests ran that part unpaced
// and a neighbour kept a quarter of its throughput.
func TestPacerChargesWorkBeforeTheTurn(t *testing.T) {
	p := newPacer(1, 0) // a pause 99 times as long as the work
	asked := time.Now()
	done, err := p.wait(context.Background(), "a", 10*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	done()
	p.mu.Lock()
	next := p.projects["a"].next
	p.mu.Unlock()
	// 10 ms of work at 1 % of a core is paid for a second after it.
	if paid := next.Sub(asked); paid < time.Second {
		t.Errorf("the project's next turn is %v after the request, want at least 1s for 10ms of work before it", paid)
	}
}

// A long request's turn covers its work, not the sending of its answer: a
// client that asks for a long path and then reads nothing (a few MiB of
// body fill the socket buffers; pipelined requests would do the same for
// any body) must not hold its project's turn, and with it every other long
// request of the project, for as long as it keeps the connection open.
func TestSlowReaderDoesNotHoldLongRequestTurn(t *testing.T) {
	th := newTestHost(t)
	big := strings.Repeat("0123456789abcdef", 8<<20/16)
	p := th.createProject("long")
	th.deploy(p.ID, siteFiles{"/big.bin": big, "/small.txt": "small"}, func(r *api.DeployRequest) {
		r.Config = &api.AssetConfig{Redirects: "/big/* /big.bin 200\n/small/* /small.txt 200\n"}
	})
	long := strings.Repeat("x", 2<<10)

	conn, err := net.Dial("tcp", strings.TrimPrefix(th.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(time.Minute))
	fmt.Fprintf(conn, "GET /big/%s HTTP/1.1\r\nHost: %s.localhost\r\nAccept-Encoding: identity\r\n\r\n", long, p.ID)
	// The answer has begun: its handler is sending the body, which the
	// client now stops reading.
	if line, err := bufio.NewReader(conn).ReadString('\n'); err != nil || !strings.Contains(line, "200") {
		t.Fatalf("first request: %q, %v", line, err)
	}

	req, err := http.NewRequest("GET", th.srv.URL+"/small/"+long, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = p.ID + ".localhost"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := th.srv.Client().Do(req.WithContext(ctx))
	if err != nil {
		t.Fatalf("another long request of the project, while the first's client reads nothing, had no answer: %v", ctx.Err())
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(b) != "small" {
		t.Fatalf("status %d, body %q", resp.StatusCode, b)
	}
}

// The work charged to a long request from before its turn is its own
// reading and parsing, not the wait for its project's site to be built:
// that build is deploy work, paced by the deploy pacer in its own turn,
// and a request that waited a second for it was charged the second again,
// four times over, so that any visitor arriving during a build (or asking
// for a preview not cached) left the project's long requests blocked for
// several seconds.
func TestLongRequestNotChargedForSiteBuild(t *testing.T) {
	th := newTestHost(t)
	p := th.createProject("built")
	th.deploy(p.ID, siteFiles{"/page.txt": "page"}, func(r *api.DeployRequest) {
		r.Config = &api.AssetConfig{Redirects: "/long/* /page.txt 200\n"}
	})
	th.h.sites.forget(p.ID) // the next request builds the site
	// The site's build waits for the project's deploy-work turn, held
	// here for a second.
	hold, err := th.h.heavy.start(context.Background(), p.ID)
	if err != nil {
		t.Fatal(err)
	}
	released := make(chan struct{})
	go func() {
		time.Sleep(time.Second)
		hold.end()
		close(released)
	}()
	resp, body := th.fetch(p.ID+".localhost", "/long/"+strings.Repeat("x", 2<<10))
	<-released
	if resp.StatusCode != http.StatusOK || body != "page" {
		t.Fatalf("status %d, body %q", resp.StatusCode, body)
	}
	th.h.pace.mu.Lock()
	next := th.h.pace.projects[p.ID].next
	th.h.pace.mu.Unlock()
	// The request's own work is milliseconds, which the pacer makes four
	// times as long; the second it waited would be four seconds.
	if ahead := time.Until(next); ahead > time.Second {
		t.Fatalf("the project's next long request must wait %v: the wait for the build was charged", ahead)
	}
}
