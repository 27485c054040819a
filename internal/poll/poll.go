// Package poll waits, in tests, for something another goroutine or process
// does in its own time: a background job finishing, a file being written, a
// server answering. One helper with a short, growing interval replaces the
// ad-hoc sleep loops, so a test waits about as long as the thing takes and
// fails with a message naming what never happened.
package poll

import (
	"testing"
	"time"
)

// Wait calls cond until it returns true or d has passed, and reports
// whether it returned true. The interval starts at a millisecond and
// doubles up to 50 ms.
func Wait(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	pause := time.Millisecond
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(pause)
		pause = min(2*pause, 50*time.Millisecond)
	}
	return true
}

// Until is Wait that fails t, saying what it waited for, when cond has not
// held within d.
func Until(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	if !Wait(d, cond) {
		t.Fatalf("waited %s for %s", d, what)
	}
}
