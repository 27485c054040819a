package host

import (
	"context"
	"io"
	"net/http"
	"sync"
	"time"
)

// Defaults of the long-request pacer.
const (
	defaultLongRequestPath  = 1 << 10
	defaultLongRequestShare = 25
)

// pacer bounds the CPU time one project's expensive work takes, so that a
// tenant cannot take the host's cores from other projects. Two pacers use
// it: one for a project's long static requests, one for its deploy work
// (heavy.go).
//
// A long path is what makes a static request expensive: rule matching, the
// 404-page walk and the headers rules copy captures into are all linear in
// it, and a request costs up to milliseconds where a plain one costs tens
// of microseconds. Go's scheduler shares a core between goroutines, not
// projects, and a core that always has a runnable goroutine only looks for
// network events every 10 ms: a few connections of such requests left
// another project's static site a tenth of its throughput.
//
// So a project's paced work runs one piece at a time (a turn), and the
// time it runs is charged against the project: after it, the project's
// next turn (or the next chunk of a long turn, see yield) waits long
// enough that its work takes at most share percent of one core. A pacer
// may grant a burst: after a quiet spell a project runs that much work
// before pauses begin, so that small jobs never wait. The pauses leave the
// core idle for other projects' requests. Work waiting for its turn costs
// no CPU; it ends when its context does.
type pacer struct {
	// pause is how long the project waits per unit of time its work ran:
	// 100/share - 1.
	pause float64
	// tolerance is how far next may be ahead of now with work still going
	// on at once: the burst times pause.
	tolerance time.Duration

	mu       sync.Mutex
	projects map[string]*pace
	// sweepAt is the size of projects at which idle entries are dropped.
	sweepAt int
}

// pace is one project's turn: a slot, and when its work is paid for.
type pace struct {
	slot chan struct{}
	// next is when the work the project ran so far would have ended had it
	// run at its share of a core; guarded by slot.
	next time.Time
	refs int // turns holding or waiting for the entry, under pacer.mu
}

// minPause is the shortest pause a turn sleeps; a shorter one is owed, not
// slept (next keeps it), so that fine-grained yields cost no timer churn.
const minPause = time.Millisecond

// newPacer returns a pacer that keeps each project's work to share percent
// of one core once it has run burst of work since it was last paid up.
func newPacer(share int, burst time.Duration) *pacer {
	share = min(max(share, 1), 100)
	pause := 100/float64(share) - 1
	return &pacer{pause: pause, tolerance: time.Duration(float64(max(burst, 0)) * pause),
		projects: map[string]*pace{}, sweepAt: 64}
}

// wait takes project's turn for one long request, waiting while another
// runs and then for the pause the last one earned. It returns done, to call
// when the request's work is over, or ctx's error.
//
// before is work the request did before it could ask for the turn (parsing
// and normalising its long target): it scales with the path as the paced
// work does, so it is charged with the turn's, and a project cannot run
// that part of its requests unpaced. A wait for the project's site to be
// built is not in it: the build is deploy work, paced in its own turn.
func (p *pacer) wait(ctx context.Context, project string, before time.Duration) (done func(), err error) {
	t, err := p.start(ctx, project)
	if err != nil {
		return nil, err
	}
	t.owed = max(before, 0)
	return t.end, nil
}

// turn is a project's right to run paced work, from start to end.
type turn struct {
	p       *pacer
	project string
	e       *pace
	// from is when the work not yet charged began.
	from time.Time
	// owed is work done outside the turn, charged with the next charge.
	owed time.Duration
}

// start takes project's turn: it waits while another of the project's
// turns runs, then until the project's earlier work is paid for. The
// caller calls end when its work is over, and may call yield in between.
func (p *pacer) start(ctx context.Context, project string) (*turn, error) {
	e := p.ref(project)
	select {
	case e.slot <- struct{}{}:
	case <-ctx.Done():
		p.unref(project, e)
		return nil, ctx.Err()
	}
	t := &turn{p: p, project: project, e: e}
	if err := t.hold(ctx); err != nil {
		<-e.slot
		p.unref(project, e)
		return nil, err
	}
	return t, nil
}

// yield charges the work since the last yield (or start) to the project
// and pauses when that puts it over its share. Long work calls it between
// pieces of a few milliseconds, so that its pauses come while it runs
// rather than all after it. On ctx's error the turn is still held: end it.
func (t *turn) yield(ctx context.Context) error {
	t.charge(time.Now())
	return t.hold(ctx)
}

// end charges the work since the last yield and gives the turn back; the
// project's next turn waits for what this one owes.
func (t *turn) end() {
	t.charge(time.Now())
	<-t.e.slot
	t.p.unref(t.project, t.e)
}

// hold waits until the project's work is paid for, within the tolerance.
func (t *turn) hold(ctx context.Context) error {
	if d := time.Until(t.e.next.Add(-t.p.tolerance)); d >= minPause {
		tm := time.NewTimer(d)
		select {
		case <-tm.C:
		case <-ctx.Done():
			tm.Stop()
			t.from = time.Now()
			return ctx.Err()
		}
	}
	t.from = time.Now()
	return nil
}

// charge moves next on by what the work from t.from to now costs at the
// project's share.
func (t *turn) charge(now time.Time) {
	ran := now.Sub(t.from) + t.owed
	t.owed = 0
	base := t.e.next
	if base.Before(t.from) {
		base = t.from
	}
	t.e.next = base.Add(time.Duration(float64(ran) * (t.p.pause + 1)))
	t.from = now
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

// turnWriter ends a long request's turn when its answer starts: the work
// the turn paces (rule matching, the 404-page walk, the headers rules) is
// done by then, and what is left is sending the body, which takes as long
// as the client makes it. A client reading nothing would otherwise hold
// the turn, and with it every other long request of the project, for as
// long as it kept the connection open.
type turnWriter struct {
	http.ResponseWriter
	done func() // nil once called
}

func (w *turnWriter) end() {
	if w.done != nil {
		w.done()
		w.done = nil
	}
}

func (w *turnWriter) WriteHeader(code int) {
	w.end()
	w.ResponseWriter.WriteHeader(code)
}

func (w *turnWriter) Write(b []byte) (int, error) {
	w.end()
	return w.ResponseWriter.Write(b)
}

// ReadFrom keeps the connection's sendfile path for asset bodies.
func (w *turnWriter) ReadFrom(src io.Reader) (int64, error) {
	w.end()
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		return rf.ReadFrom(src)
	}
	return io.Copy(struct{ io.Writer }{w.ResponseWriter}, src)
}

// Unwrap lets http.ResponseController and coalesce reach the writer below.
func (w *turnWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
