package poll

import (
	"sync/atomic"
	"testing"
	"time"
)

func TestWait(t *testing.T) {
	var calls atomic.Int32
	if !Wait(time.Minute, func() bool { return calls.Add(1) == 3 }) {
		t.Fatal("Wait gave up on a condition that became true")
	}
	if calls.Load() != 3 {
		t.Fatalf("cond called %d times, want 3", calls.Load())
	}
	if Wait(5*time.Millisecond, func() bool { return false }) {
		t.Fatal("Wait reported a condition that never held")
	}
}
