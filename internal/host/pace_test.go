package host

import (
	"context"
	"errors"
	"testing"
	"time"
)

// One project's long requests take turns: a second waits while the first
// runs and gives up when its client goes away; after the first, the next
// may not start before a pause proportional to the time it ran. Other
// projects have turns of their own.
func TestPacerTurns(t *testing.T) {
	p := newPacer(1) // a pause 99 times as long as the run
	done, err := p.wait(context.Background(), "a")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.wait(ctx, "a"); !errors.Is(err, context.Canceled) {
		t.Fatalf("a second request of the project while the first runs: %v, want to wait (and give up when cancelled)", err)
	}
	other, err := p.wait(context.Background(), "b")
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
	if _, err := p.wait(ctx, "a"); !errors.Is(err, context.Canceled) {
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
		if p := newPacer(tt.share); p.pause != tt.pause {
			t.Errorf("share %d: pause factor %v, want %v", tt.share, p.pause, tt.pause)
		}
	}
}
