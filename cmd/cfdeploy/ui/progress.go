// Package ui renders deploy progress for people: a live bubbletea view when
// stderr is a terminal, coarse plain lines otherwise (CI logs). Both take the
// engine's events as plain data and know nothing of how a deploy works.
package ui

import (
	"fmt"
	"strings"
	"time"

	"github.com/cfdeploy/cfdeploy/pkg/client"
	"github.com/cfdeploy/cfdeploy/pkg/manifest"
)

// Progress shows a running deploy. Event may be called from any goroutine
// but not concurrently (the engine serialises its events). Close stops the
// renderer and returns once its last output is written.
type Progress interface {
	Event(client.Event)
	Close()
}

// Discard is a Progress that shows nothing.
type Discard struct{}

// Event ignores ev.
func (Discard) Event(client.Event) {}

// Close does nothing.
func (Discard) Close() {}

// phaseLabel is the human name of a phase.
func phaseLabel(p client.Phase) string {
	switch p {
	case client.PhaseScan:
		return "Scanning"
	case client.PhaseHash:
		return "Hashing"
	case client.PhaseSession:
		return "Comparing with the host"
	case client.PhaseUpload:
		return "Uploading"
	case client.PhaseFinalize:
		return "Finalizing"
	case client.PhaseDone:
		return "Done"
	}
	return string(p)
}

// fraction is how far the phase of ev is, from 0 to 1, by bytes where known
// (a few big files dominate time), else by files. ok is false when the phase
// has no measure.
func fraction(ev client.Event) (f float64, ok bool) {
	switch {
	case ev.BytesTotal > 0:
		f = float64(ev.BytesDone) / float64(ev.BytesTotal)
	case ev.FilesTotal > 0:
		f = float64(ev.FilesDone) / float64(ev.FilesTotal)
	default:
		return 0, false
	}
	return min(max(f, 0), 1), true
}

// rateETA returns bytes per second and the remaining time for a phase that
// started at start, or zeros when there is too little to go on.
func rateETA(ev client.Event, start, now time.Time) (float64, time.Duration) {
	el := now.Sub(start).Seconds()
	if el < 0.2 || ev.BytesDone <= 0 {
		return 0, 0
	}
	rate := float64(ev.BytesDone) / el
	left := float64(ev.BytesTotal-ev.BytesDone) / rate
	return rate, time.Duration(left * float64(time.Second))
}

// countLine renders "120/300 files · 12.0 MiB/30.0 MiB".
func countLine(ev client.Event) string {
	parts := []string{fmt.Sprintf("%s/%s files", commas(ev.FilesDone), commas(ev.FilesTotal))}
	if ev.BytesTotal > 0 {
		parts = append(parts, manifest.FormatBytes(ev.BytesDone)+"/"+manifest.FormatBytes(ev.BytesTotal))
	}
	if ev.Phase == client.PhaseHash && ev.Cached > 0 {
		parts = append(parts, fmt.Sprintf("%s from cache", commas(ev.Cached)))
	}
	return strings.Join(parts, " · ")
}

// files renders a file count with its noun: "1 file", "1,234 files".
func files(n int) string {
	if n == 1 {
		return "1 file"
	}
	return commas(n) + " files"
}

// commas renders 1234567 as "1,234,567".
func commas(n int) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + commas(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// FormatDuration renders d compactly: "850ms", "4.2s", "3m05s".
func FormatDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	default:
		d = d.Round(time.Second)
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
}

// Summary is the one-line result of a deploy, shared by both renderers.
func Summary(r *client.DeployResult) string {
	if r == nil {
		return ""
	}
	if r.DryRun {
		return fmt.Sprintf("Dry run: %s of %s (%s) would be uploaded; nothing was changed",
			commas(r.NeedFiles), files(r.Files), manifest.FormatBytes(r.NeedBytes))
	}
	s := fmt.Sprintf("Deployed %s (%s new, %s already on the host)",
		files(r.DeployedAssets), commas(r.NewAssets), commas(r.SkippedAssets))
	if r.UploadedFiles > 0 {
		s += fmt.Sprintf(" · uploaded %s", manifest.FormatBytes(r.UploadedBytes))
	}
	if r.DeployedServerCodeModules > 0 {
		s += fmt.Sprintf(" · %d server module(s)", r.DeployedServerCodeModules)
	}
	return s + " in " + FormatDuration(r.Elapsed)
}
