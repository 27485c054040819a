package host

import (
	"strings"
	"testing"
	"time"
)

// The deploy budget counts files per project in fixed windows: a project
// that spent it waits for its window to end, small operations count
// minDeployCharge, and projects do not share budgets.
func TestDeployLimiter(t *testing.T) {
	t.Parallel()
	l := newDeployLimiter(1000, time.Minute)
	t0 := time.Unix(1_000_000, 0)
	steps := []struct {
		name    string
		project string
		at      time.Duration // after t0
		charge  int           // charged when allowed; -1: only checked
		refused bool
	}{
		{"first window opens", "a", 0, 600, false},
		{"small deploy counts the minimum", "a", time.Second, 1, false},
		{"within budget, may go past it", "a", 2 * time.Second, 500, false},
		{"budget spent", "a", 30 * time.Second, -1, true},
		{"other project unaffected", "b", 30 * time.Second, 100, false},
		{"window ended", "a", 61 * time.Second, 999, false},
		{"new window nearly spent, still allowed", "a", 62 * time.Second, -1, false},
	}
	for _, s := range steps {
		now := t0.Add(s.at)
		wait, refused := l.wait(s.project, now)
		if refused != s.refused {
			t.Fatalf("%s: refused = %v, want %v", s.name, refused, s.refused)
		}
		if refused && (wait <= 0 || wait > time.Minute) {
			t.Errorf("%s: wait %v, want until the window ends", s.name, wait)
		}
		if !refused && s.charge >= 0 {
			l.charge(s.project, s.charge, now)
		}
	}
	if w := l.projects["a"]; w.used != 999 {
		t.Errorf("project a used %d in its second window, want 999", w.used)
	}
}

// Ended windows are dropped when the table grows, so projects that stopped
// deploying (or were deleted) do not stay in memory.
func TestDeployLimiterSweeps(t *testing.T) {
	t.Parallel()
	l := newDeployLimiter(1000, time.Minute)
	t0 := time.Unix(1_000_000, 0)
	for i := range 64 {
		l.charge(string(rune('A'+i)), 1, t0)
	}
	l.charge("late", 1, t0.Add(2*time.Minute))
	if n := len(l.projects); n != 1 {
		t.Errorf("%d projects kept, want only the one whose window is open", n)
	}
}

// Upload sessions are charged for the body they make the host parse, valid
// or not: a loop of large malformed manifests runs out of budget as a loop
// of deploys does.
func TestDeployBudgetChargesMalformedBodies(t *testing.T) {
	t.Parallel()
	th := newTestHost(t, func(c *Config) { c.DeployBudget = 1000 })
	p := th.createProject("malformed")
	// 40,000 bytes that are not JSON: 400 files' worth each.
	bad := `{"manifest":` + strings.Repeat(" ", 40_000) + `x}`
	for i, want := range []int{400, 400, 400, 429} {
		resp, body := th.do("POST", "/__api/projects/"+p.ID+"/assets-upload-session", bad, "Content-Type", "application/json")
		if resp.StatusCode != want {
			t.Fatalf("malformed session %d: %d %s, want %d", i+1, resp.StatusCode, body, want)
		}
	}
}
