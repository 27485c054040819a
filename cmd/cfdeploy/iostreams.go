package main

import (
	"io"
	"os"

	"golang.org/x/term"

	"github.com/cfdeploy/cfdeploy/cmd/cfdeploy/ui"
)

// IOStreams is the one place that decides about the terminal: where data,
// chatter and input go, whether we may prompt, and whether to draw a live
// view or plain lines, in colour or not. Commands ask it and never look at
// file descriptors themselves.
type IOStreams struct {
	In       io.Reader
	Out, Err io.Writer // data on Out, progress and chatter on Err

	StdinTTY, StdoutTTY, StderrTTY bool
	// Color is false with NO_COLOR set, TERM=dumb, or stderr not a terminal.
	Color bool
	// Dumb is TERM=dumb: a terminal that cannot redraw lines.
	Dumb bool
}

// systemIO inspects the real standard streams and environment.
func systemIO() *IOStreams {
	isTTY := func(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }
	s := &IOStreams{
		In: os.Stdin, Out: os.Stdout, Err: os.Stderr,
		StdinTTY: isTTY(os.Stdin), StdoutTTY: isTTY(os.Stdout), StderrTTY: isTTY(os.Stderr),
		Dumb: os.Getenv("TERM") == "dumb",
	}
	_, noColor := os.LookupEnv("NO_COLOR")
	s.Color = s.StderrTTY && !s.Dumb && !noColor
	return s
}

// CanPrompt reports whether questions may be asked: only with a person at
// both ends, never in CI, so a missing value can never hang a pipeline.
func (s *IOStreams) CanPrompt() bool { return s.StdinTTY && s.StderrTTY && !s.Dumb }

// Progress returns the renderer for a deploy: the live view on a terminal,
// plain lines otherwise.
func (s *IOStreams) Progress() ui.Progress {
	if s.StderrTTY && !s.Dumb {
		return ui.NewTUI(s.Err, s.Color)
	}
	return ui.NewPlain(s.Err, nil)
}
