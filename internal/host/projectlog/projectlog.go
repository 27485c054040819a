// Package projectlog keeps what each project's server code logged — JS
// console lines, uncaught errors with their stack, a WASI guest's stderr,
// and why a request failed — in a ring buffer per project, and hands new
// lines to the readers that follow it (GET /__api/projects/:id/logs and
// cfdeploy tail).
//
// Everything in it is the tenant's text, so everything is bounded: a line's
// length, the bytes one project keeps, the bytes all projects keep together
// (the biggest project loses its oldest lines first) and the readers that
// may follow one project. A reader that falls behind never slows the
// requests that log: the lines it cannot take are counted and reported to
// it as dropped.
package projectlog

import (
	"errors"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/cfdeploy/cfdeploy/pkg/api"
)

// Defaults of Config.
const (
	DefaultProjectBytes = 256 << 10
	DefaultTotalBytes   = 64 << 20
	DefaultFollowers    = 8
	DefaultMaxLine      = 16 << 10
)

// entryOverhead is what an entry costs besides its strings, roughly: the
// struct, the slice slot, the time.
const entryOverhead = 128

// followerBuffer is how many lines a follower may be behind before lines
// are dropped for it.
const followerBuffer = 256

// ErrTooManyFollowers refuses a reader past Config.Followers.
var ErrTooManyFollowers = errors.New("too many readers follow this project's logs")

// Config bounds the buffer.
type Config struct {
	// ProjectBytes is what one project's lines may take; older lines go.
	ProjectBytes int64
	// TotalBytes is what all projects' lines may take together; the
	// project holding the most loses its oldest lines first.
	TotalBytes int64
	// Followers is how many readers may follow one project at once.
	Followers int
	// MaxLine caps a line's message; the rest is cut.
	MaxLine int
}

func (c *Config) defaults() {
	if c.ProjectBytes <= 0 {
		c.ProjectBytes = DefaultProjectBytes
	}
	if c.TotalBytes <= 0 {
		c.TotalBytes = DefaultTotalBytes
	}
	if c.Followers <= 0 {
		c.Followers = DefaultFollowers
	}
	if c.MaxLine <= 0 {
		c.MaxLine = DefaultMaxLine
	}
}

// Buffer holds the recent lines of every project.
type Buffer struct {
	cfg Config

	mu       sync.Mutex
	projects map[string]*ring
	total    int64
	seq      uint64
	now      func() time.Time
}

// ring is one project's lines, oldest first, and its followers.
type ring struct {
	entries   []stored
	head      int // entries[:head] are gone
	bytes     int64
	followers map[*Follower]struct{}
}

type stored struct {
	e    api.LogEntry
	size int64
}

// New returns an empty buffer.
func New(cfg Config) *Buffer {
	cfg.defaults()
	return &Buffer{cfg: cfg, projects: map[string]*ring{}, now: time.Now}
}

// Config returns the bounds in force.
func (b *Buffer) Config() Config { return b.cfg }

// Append adds a line to project's log. Time is set when zero; Seq is
// always set, increasing across the host.
func (b *Buffer) Append(project string, e api.LogEntry) {
	if b == nil || project == "" {
		return
	}
	e.Message = truncate(e.Message, b.cfg.MaxLine)
	e.Path = truncate(e.Path, 1024)
	if e.Time.IsZero() {
		e.Time = b.now()
	}
	size := entryOverhead + int64(len(e.Message)+len(e.Path)+len(e.Deployment)+len(e.Method)+len(e.Source)+len(e.Level))

	b.mu.Lock()
	defer b.mu.Unlock()
	b.seq++
	e.Seq = b.seq
	r := b.projects[project]
	if r == nil {
		r = &ring{}
		b.projects[project] = r
	}
	r.entries = append(r.entries, stored{e: e, size: size})
	r.bytes += size
	b.total += size
	for r.bytes > b.cfg.ProjectBytes && r.len() > 1 {
		b.evict(r)
	}
	if b.total > b.cfg.TotalBytes {
		b.shrink()
	}
	for f := range r.followers {
		f.offer(e)
	}
}

// shrink evicts the oldest lines of the biggest projects until all
// projects fit in nine tenths of TotalBytes, so that a buffer at its
// bound does not scan the projects on every line.
func (b *Buffer) shrink() {
	target := b.cfg.TotalBytes / 10 * 9
	for b.total > target {
		var big *ring
		var bigID string
		var second int64
		for id, r := range b.projects {
			switch {
			case r.len() == 0:
			case big == nil || r.bytes > big.bytes:
				if big != nil {
					second = big.bytes
				}
				big, bigID = r, id
			case r.bytes > second:
				second = r.bytes
			}
		}
		if big == nil {
			return
		}
		for big.len() > 0 && b.total > target && big.bytes >= second {
			b.evict(big)
		}
		if big.len() == 0 && len(big.followers) == 0 {
			delete(b.projects, bigID)
		}
	}
}

// evict drops r's oldest line.
func (b *Buffer) evict(r *ring) {
	s := r.entries[r.head]
	r.entries[r.head] = stored{}
	r.head++
	r.bytes -= s.size
	b.total -= s.size
	if r.head > 64 && r.head*2 > len(r.entries) {
		r.entries = append([]stored(nil), r.entries[r.head:]...)
		r.head = 0
	}
}

func (r *ring) len() int { return len(r.entries) - r.head }

// lines copies r's lines, oldest first.
func (r *ring) lines() []api.LogEntry {
	if r == nil {
		return []api.LogEntry{}
	}
	out := make([]api.LogEntry, 0, r.len())
	for _, s := range r.entries[r.head:] {
		out = append(out, s.e)
	}
	return out
}

// Lines returns project's buffered lines, oldest first.
func (b *Buffer) Lines(project string) []api.LogEntry {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.projects[project].lines()
}

// Follow returns project's buffered lines and a Follower that receives
// every line appended after them, with no gap between the two. Close the
// Follower when done.
func (b *Buffer) Follow(project string) ([]api.LogEntry, *Follower, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r := b.projects[project]
	if r != nil && len(r.followers) >= b.cfg.Followers {
		return nil, nil, ErrTooManyFollowers
	}
	backlog := r.lines()
	if r == nil {
		r = &ring{}
		b.projects[project] = r
	}
	if r.followers == nil {
		r.followers = map[*Follower]struct{}{}
	}
	f := &Follower{C: make(chan api.LogEntry, followerBuffer), done: make(chan struct{}), b: b, project: project}
	r.followers[f] = struct{}{}
	return backlog, f, nil
}

// Forget drops project's lines and ends its followers: the project is gone.
func (b *Buffer) Forget(project string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r := b.projects[project]
	if r == nil {
		return
	}
	b.total -= r.bytes
	for f := range r.followers {
		f.end()
	}
	delete(b.projects, project)
}

// Bytes is what all lines take now.
func (b *Buffer) Bytes() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.total
}

// Follower receives a project's new lines on C. Done is closed when the
// project is deleted.
type Follower struct {
	C       chan api.LogEntry
	done    chan struct{}
	b       *Buffer
	project string
	// dropped counts lines not delivered because C was full; guarded by
	// b.mu.
	dropped int64
	ended   bool
}

// offer hands e to the follower unless it is too far behind. Called with
// b.mu held.
func (f *Follower) offer(e api.LogEntry) {
	select {
	case f.C <- e:
	default:
		f.dropped++
	}
}

// Done is closed when the project's log ends (the project was deleted).
func (f *Follower) Done() <-chan struct{} { return f.done }

// Dropped returns and resets the number of lines dropped for this reader
// since the last call.
func (f *Follower) Dropped() int64 {
	f.b.mu.Lock()
	defer f.b.mu.Unlock()
	n := f.dropped
	f.dropped = 0
	return n
}

func (f *Follower) end() {
	if !f.ended {
		f.ended = true
		close(f.done)
	}
}

// Close stops following.
func (f *Follower) Close() {
	b := f.b
	b.mu.Lock()
	defer b.mu.Unlock()
	f.end()
	r := b.projects[f.project]
	if r == nil {
		return
	}
	delete(r.followers, f)
	if r.len() == 0 && len(r.followers) == 0 {
		delete(b.projects, f.project)
	}
}

// truncate cuts s to at most n bytes on a rune boundary, saying so.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const mark = "… (cut)"
	cut := max(0, n-len(mark))
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}
