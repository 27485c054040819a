package client

import (
	"sync"
	"time"
)

// Phase names a step of a deploy, in the order they happen.
type Phase string

// The phases of a deploy.
const (
	PhaseScan     Phase = "scan"     // walking the directory
	PhaseHash     Phase = "hash"     // hashing files (cache hits count as done)
	PhaseSession  Phase = "session"  // asking the host what it needs
	PhaseUpload   Phase = "upload"   // sending buckets
	PhaseFinalize Phase = "finalize" // creating the deployment
	PhaseDone     Phase = "done"     // finished; Summary is set
)

// Event is a snapshot of a running deploy, handed to DeployOptions.Progress.
// It is plain data so that any renderer (terminal view, CI lines, nothing)
// can show it without knowing how the engine works. Counters are those of
// the current phase: files and bytes hashed during PhaseHash, files and bytes
// uploaded during PhaseUpload.
type Event struct {
	Phase      Phase
	FilesDone  int
	FilesTotal int
	BytesDone  int64
	BytesTotal int64
	// Cached counts, during PhaseHash, the files whose hash came from the
	// local cache.
	Cached int
	// Notice, when set, is a one-off message worth showing as a line of its
	// own: a retry, a new upload session, a skipped symlink.
	Notice string
	// Summary is set on the PhaseDone event.
	Summary *DeployResult
}

// emitter serialises events and thins out the frequent byte-progress ones;
// phase changes, notices and file completions always go through.
type emitter struct {
	mu       sync.Mutex
	fn       func(Event)
	last     time.Time
	interval time.Duration
	cur      Event
}

func newEmitter(fn func(Event)) *emitter {
	return &emitter{fn: fn, interval: 50 * time.Millisecond}
}

// update changes the current snapshot with f and emits it if force is set
// or enough time has passed.
func (e *emitter) update(force bool, f func(*Event)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	f(&e.cur)
	if e.fn == nil {
		return
	}
	now := time.Now()
	if !force && now.Sub(e.last) < e.interval {
		return
	}
	e.last = now
	ev := e.cur
	e.fn(ev)
}

// phase starts a new phase with fresh counters.
func (e *emitter) phase(p Phase, filesTotal int, bytesTotal int64) {
	e.update(true, func(ev *Event) {
		*ev = Event{Phase: p, FilesTotal: filesTotal, BytesTotal: bytesTotal}
	})
}

// notice emits a one-off message within the current phase.
func (e *emitter) notice(msg string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.fn != nil {
		ev := e.cur
		ev.Notice = msg
		e.fn(ev)
	}
}
