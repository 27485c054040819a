package ui

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/cfdeploy/cfdeploy/pkg/client"
)

var update = flag.Bool("update", false, "rewrite golden files")

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// feed sends msgs through the model and returns it.
func feed(m tea.Model, msgs ...tea.Msg) tea.Model {
	for _, msg := range msgs {
		m, _ = m.Update(msg)
	}
	return m
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run with -update to create): %v", err)
	}
	if got != string(want) {
		t.Errorf("view differs from %s:\n--- got ---\n%s--- want ---\n%s", path, got, want)
	}
}

var ansi = regexp.MustCompile("\x1b\\[")

func TestModelGoldenViews(t *testing.T) {
	upload := func(files int, bytes int64, at time.Duration) tea.Msg {
		return EventMsg{At: t0.Add(at), Event: client.Event{Phase: client.PhaseUpload, FilesDone: files, FilesTotal: 300, BytesDone: bytes, BytesTotal: 30 << 20}}
	}
	tests := []struct {
		name string
		msgs []tea.Msg
	}{
		{"hashing", []tea.Msg{
			tea.WindowSizeMsg{Width: 72},
			EventMsg{At: t0, Event: client.Event{Phase: client.PhaseHash, FilesTotal: 10000, BytesTotal: 200 << 20}},
			EventMsg{At: t0.Add(time.Second), Event: client.Event{Phase: client.PhaseHash, FilesDone: 2500, FilesTotal: 10000, BytesDone: 50 << 20, BytesTotal: 200 << 20, Cached: 2000}},
		}},
		{"uploading", []tea.Msg{
			tea.WindowSizeMsg{Width: 72},
			upload(0, 0, 0),
			upload(120, 12<<20, 3*time.Second),
		}},
		{"session", []tea.Msg{
			EventMsg{At: t0, Event: client.Event{Phase: client.PhaseSession}},
			EventMsg{At: t0.Add(1500 * time.Millisecond), Event: client.Event{Phase: client.PhaseSession}},
		}},
		{"done", []tea.Msg{
			upload(300, 30<<20, 5*time.Second),
			EventMsg{At: t0.Add(6 * time.Second), Event: client.Event{Phase: client.PhaseDone, Summary: &client.DeployResult{
				DeployedAssets: 1234, NewAssets: 300, SkippedAssets: 934, UploadedFiles: 300, UploadedBytes: 30 << 20, Elapsed: 6200 * time.Millisecond,
			}}},
		}},
		{"dry-run", []tea.Msg{
			EventMsg{At: t0, Event: client.Event{Phase: client.PhaseDone, Summary: &client.DeployResult{DryRun: true, Files: 1234, NeedFiles: 3, NeedBytes: 2048}}},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			view := feed(NewModel(false), tc.msgs...).View()
			if ansi.MatchString(view) {
				t.Errorf("colourless view has ANSI codes: %q", view)
			}
			golden(t, tc.name, view)
		})
	}
}

func TestModelQuitsOnDone(t *testing.T) {
	m := tea.Model(NewModel(true))
	_, cmd := m.Update(EventMsg{At: t0, Event: client.Event{Phase: client.PhaseDone, Summary: &client.DeployResult{}}})
	if cmd == nil {
		t.Fatal("no command after PhaseDone")
	}
	if _, ok := cmd().(tea.QuitMsg); !ok {
		t.Errorf("PhaseDone does not quit the program")
	}
}

func TestModelColour(t *testing.T) {
	msgs := []tea.Msg{EventMsg{At: t0, Event: client.Event{Phase: client.PhaseUpload, FilesDone: 1, FilesTotal: 2, BytesDone: 1, BytesTotal: 2}}}
	if v := feed(NewModel(true), msgs...).View(); !ansi.MatchString(v) {
		t.Errorf("coloured view has no colour: %q", v)
	}
}

// simulate sends the events of a 10,000-file deploy, the way the engine
// emits them (one per hashed file, throttled upload bytes, a bucket at a
// time), through r with a fake clock that advances step per event.
func simulate(r *Plain, clock *time.Time, step time.Duration) {
	send := func(ev client.Event) {
		*clock = clock.Add(step)
		r.Event(ev)
	}
	const files = 10000
	const size = 20 << 10
	send(client.Event{Phase: client.PhaseScan})
	send(client.Event{Phase: client.PhaseHash, FilesTotal: files, BytesTotal: files * size})
	for i := 1; i <= files; i++ {
		send(client.Event{Phase: client.PhaseHash, FilesDone: i, FilesTotal: files, BytesDone: int64(i) * size, BytesTotal: files * size})
	}
	send(client.Event{Phase: client.PhaseSession})
	send(client.Event{Phase: client.PhaseUpload, FilesTotal: files, BytesTotal: files * size})
	send(client.Event{Phase: client.PhaseUpload, Notice: "retrying in 1s after: 503 Service Unavailable"})
	var done int64
	for b := 0; b < files/50; b++ {
		for k := 0; k < 10; k++ { // byte progress within the bucket
			done += 5 * size
			send(client.Event{Phase: client.PhaseUpload, FilesDone: b * 50, FilesTotal: files, BytesDone: done, BytesTotal: files * size})
		}
		send(client.Event{Phase: client.PhaseUpload, FilesDone: (b + 1) * 50, FilesTotal: files, BytesDone: done, BytesTotal: files * size})
	}
	send(client.Event{Phase: client.PhaseFinalize})
	send(client.Event{Phase: client.PhaseDone, Summary: &client.DeployResult{DeployedAssets: files, NewAssets: files, UploadedFiles: files, UploadedBytes: files * size, Elapsed: time.Minute}})
}

func TestPlainLineCount(t *testing.T) {
	tests := []struct {
		name     string
		step     time.Duration // fake time per event
		maxLines int
	}{
		// Fast: only the 10% steps print. 2 phases × (start + 10 steps),
		// 2 phase lines without a bar, 1 notice, 1 summary.
		{"fast deploy", time.Microsecond, 2*11 + 2 + 1 + 1},
		// Slow (about 70 s in all): the 5 s heartbeat adds lines, but no
		// more than one per 5 s.
		{"slow deploy", 5 * time.Millisecond, 2*11 + 2 + 1 + 1 + 70/5 + 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			clock := t0
			r := NewPlain(&buf, func() time.Time { return clock })
			simulate(r, &clock, tc.step)
			out := buf.String()
			lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			if len(lines) > tc.maxLines {
				t.Errorf("%d lines, want at most %d:\n%s", len(lines), tc.maxLines, out)
			}
			if len(lines) < 2*11 {
				t.Errorf("only %d lines; every 10%% step should show:\n%s", len(lines), out)
			}
			if ansi.MatchString(out) {
				t.Errorf("plain output has ANSI codes")
			}
			for _, want := range []string{"Hashing 10,000 files", "Uploading 10,000 files", "100%", "retrying in 1s", "Deployed 10,000 files"} {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
		})
	}
}

func TestSummary(t *testing.T) {
	tests := []struct {
		r    *client.DeployResult
		want string
	}{
		{&client.DeployResult{DeployedAssets: 3, SkippedAssets: 3, Elapsed: 120 * time.Millisecond}, "Deployed 3 files (0 new, 3 already on the host) in 120ms"},
		{&client.DeployResult{DeployedAssets: 3, NewAssets: 1, SkippedAssets: 2, UploadedFiles: 1, UploadedBytes: 2048, Elapsed: 1500 * time.Millisecond}, "Deployed 3 files (1 new, 2 already on the host) · uploaded 2.0 KiB in 1.5s"},
		{&client.DeployResult{DryRun: true, Files: 10, NeedFiles: 0}, "Dry run: 0 of 10 files (0 B) would be uploaded; nothing was changed"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			if got := Summary(tc.r); got != tc.want {
				t.Errorf("Summary = %q, want %q", got, tc.want)
			}
		})
	}
}
