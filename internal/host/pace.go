package host

import (
	"context"
	"sync"
	"time"
)

// Defaults of the long-request pacer.
const (
	defaultLongRequestPath  = 1 << 10
	defaultLongRequestShare = 25
)

// pacer bounds the CPU one project's long requests take on the static
// path, so that a client sending them on many connections cannot take the
// host's cores from other projects.
//
// A long path is what makes a static request expensive: rule matching, the
// 404-page walk and the headers rules copy captures into are all linear in
// it, and a request costs up to milliseconds where a plain one costs tens
// of microseconds. Go's scheduler shares a core between goroutines, not
// projects, and a core that always has a runnable goroutine only looks for
// network events every 10 ms: a few connections of such requests left
// another project's static site a tenth of its throughput.
//
// So a project's long requests run one at a time, and after each the next
// waits long enough (in proportion to the time the last one took) that they
// take at most share percent of one core. The pauses leave the core idle
// for other projects' requests. Requests waiting for their turn cost no CPU;
// they end when their client goes away.
type pacer struct {
	// pause is how long the next request waits per unit of time the last
	// one ran: 100/share - 1.
	pause float64

	mu       sync.Mutex
	projects map[string]*pace
	// sweepAt is the size of projects at which idle entries are dropped.
	sweepAt int
}

// pace is one project's turn: a slot, and when the next may start.
type pace struct {
	slot chan struct{}
	next time.Time // guarded by slot
	refs int       // requests holding or waiting for the entry, under pacer.mu
}

func newPacer(share int) *pacer {
	share = min(max(share, 1), 100)
	return &pacer{pause: 100/float64(share) - 1, projects: map[string]*pace{}, sweepAt: 64}
}

// wait takes project's turn for one long request, waiting while another
// runs and then for the pause the last one earned. It returns done, to call
// when the request's work is over, or ctx's error.
func (p *pacer) wait(ctx context.Context, project string) (done func(), err error) {
	e := p.ref(project)
	select {
	case e.slot <- struct{}{}:
	case <-ctx.Done():
		p.unref(project, e)
		return nil, ctx.Err()
	}
	if d := time.Until(e.next); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			<-e.slot
			p.unref(project, e)
			return nil, ctx.Err()
		}
	}
	start := time.Now()
	return func() {
		end := time.Now()
		e.next = end.Add(time.Duration(float64(end.Sub(start)) * p.pause))
		<-e.slot
		p.unref(project, e)
	}, nil
}

func (p *pacer) ref(project string) *pace {
	p.mu.Lock()
	defer p.mu.Unlock()
	e := p.projects[project]
	if e == nil {
		if len(p.projects) >= p.sweepAt {
			p.sweep()
		}
		e = &pace{slot: make(chan struct{}, 1)}
		p.projects[project] = e
	}
	e.refs++
	return e
}

func (p *pacer) unref(project string, e *pace) {
	p.mu.Lock()
	e.refs--
	p.mu.Unlock()
}

// sweep drops the entries nobody holds whose pause is over, so that the
// table holds only projects with long requests lately (and none of deleted
// projects for long). It runs when the table doubles, so its cost is
// spread over the entries added. Called with mu held.
func (p *pacer) sweep() {
	now := time.Now()
	for k, e := range p.projects {
		// refs == 0: nobody holds the slot, so e.next is not being written.
		if e.refs == 0 && !now.Before(e.next) {
			delete(p.projects, k)
		}
	}
	p.sweepAt = max(64, 2*len(p.projects))
}

// tracked returns how many projects the pacer holds, for tests.
func (p *pacer) tracked() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.projects)
}
