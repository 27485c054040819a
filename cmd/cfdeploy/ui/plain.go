package ui

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/cfdeploy/cfdeploy/pkg/client"
	"github.com/cfdeploy/cfdeploy/pkg/manifest"
)

// PlainInterval is the longest a plain renderer stays silent while a phase
// is moving.
const PlainInterval = 5 * time.Second

// Plain writes progress as plain lines for logs: no ANSI codes, a line when
// a phase starts, then at most one line per 10% step or per PlainInterval,
// notices as they come, and the summary at the end. A 10,000-file deploy
// therefore logs a couple of dozen lines, not 10,000.
type Plain struct {
	mu    sync.Mutex
	w     io.Writer
	now   func() time.Time
	phase client.Phase
	start time.Time // phase start
	last  time.Time // last line written
	step  int       // last 10% step written
}

// NewPlain returns a plain renderer writing to w. now may be nil (time.Now);
// tests pass a fake clock.
func NewPlain(w io.Writer, now func() time.Time) *Plain {
	if now == nil {
		now = time.Now
	}
	return &Plain{w: w, now: now}
}

// Event renders ev if it marks a step worth a line.
func (p *Plain) Event(ev client.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if ev.Notice != "" {
		fmt.Fprintf(p.w, "  %s\n", ev.Notice)
		return
	}
	if ev.Phase == client.PhaseDone {
		if ev.Summary != nil && p.phase != client.PhaseDone {
			fmt.Fprintln(p.w, Summary(ev.Summary))
		}
		p.phase = ev.Phase
		return
	}
	if ev.Phase != p.phase {
		p.phase, p.start, p.last, p.step = ev.Phase, now, now, 0
		switch ev.Phase {
		case client.PhaseHash, client.PhaseUpload:
			fmt.Fprintf(p.w, "%s %s (%s)\n", phaseLabel(ev.Phase), files(ev.FilesTotal), manifest.FormatBytes(ev.BytesTotal))
		case client.PhaseSession:
			fmt.Fprintln(p.w, "Asking the host which files it needs")
		case client.PhaseFinalize:
			fmt.Fprintln(p.w, "Finalizing the deployment")
		}
		return
	}
	f, ok := fraction(ev)
	if !ok {
		return
	}
	step := int(f * 10)
	if step <= p.step && now.Sub(p.last) < PlainInterval {
		return
	}
	p.step, p.last = max(step, p.step), now
	line := fmt.Sprintf("  %s %3.0f%% · %s", phaseLabel(ev.Phase), f*100, countLine(ev))
	if rate, eta := rateETA(ev, p.start, now); rate > 0 && ev.Phase == client.PhaseUpload {
		line += fmt.Sprintf(" · %s/s", manifest.FormatBytes(int64(rate)))
		if f < 1 {
			line += " · ETA " + FormatDuration(eta)
		}
	}
	fmt.Fprintln(p.w, line)
}

// Close does nothing: every line is written as it happens.
func (p *Plain) Close() {}
