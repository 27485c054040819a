package ui

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/progress"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"github.com/cfdeploy/cfdeploy/pkg/client"
	"github.com/cfdeploy/cfdeploy/pkg/manifest"
)

// EventMsg carries an engine event into the model, stamped with the time it
// arrived so that rate and ETA are computed from message data alone (which
// also makes the view reproducible in tests).
type EventMsg struct {
	Event client.Event
	At    time.Time
}

// tickMsg refreshes rate and ETA between events.
type tickMsg time.Time

// closeMsg ends the program when the deploy stops without a PhaseDone event.
type closeMsg struct{}

// Model is the bubbletea model of the live deploy view: the phase, a bar,
// files and bytes done of total, rate and ETA, and the summary at the end.
// Notices (retries, skipped files) are printed above the view so they stay
// in the scrollback.
type Model struct {
	ev      client.Event
	start   time.Time // when the current phase began
	now     time.Time
	width   int
	bar     progress.Model
	ok, dim lipgloss.Style
	done    bool
}

// NewModel returns the model. color false renders no ANSI colours at all
// (NO_COLOR, or a terminal without colour).
func NewModel(color bool) Model {
	r := lipgloss.NewRenderer(io.Discard)
	profile := termenv.Ascii
	if color {
		profile = termenv.ANSI256
	}
	r.SetColorProfile(profile)
	return Model{
		width: 80,
		bar:   progress.New(progress.WithDefaultGradient(), progress.WithColorProfile(profile), progress.WithoutPercentage()),
		ok:    r.NewStyle().Foreground(lipgloss.Color("42")).Bold(true),
		dim:   r.NewStyle().Foreground(lipgloss.Color("245")),
	}
}

// Init starts the refresh tick.
func (m Model) Init() tea.Cmd { return tick() }

func tick() tea.Cmd {
	return tea.Tick(250*time.Millisecond, func(t time.Time) tea.Msg { return tickMsg(t) })
}

// Update applies one message.
func (m Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case EventMsg:
		if msg.Event.Notice != "" {
			return m, tea.Println(m.dim.Render("  ! " + msg.Event.Notice))
		}
		if msg.Event.Phase != m.ev.Phase || m.start.IsZero() {
			m.start = msg.At
		}
		m.ev, m.now = msg.Event, msg.At
		if m.ev.Phase == client.PhaseDone {
			m.done = true
			return m, tea.Quit
		}
	case tickMsg:
		m.now = time.Time(msg)
		return m, tick()
	case tea.WindowSizeMsg:
		m.width = msg.Width
	case closeMsg:
		m.done = true
		return m, tea.Quit
	}
	return m, nil
}

// View renders the current state.
func (m Model) View() string {
	if m.ev.Phase == client.PhaseDone {
		return m.ok.Render("✓") + " " + Summary(m.ev.Summary) + "\n"
	}
	if m.ev.Phase == "" {
		return ""
	}
	label := phaseLabel(m.ev.Phase)
	f, ok := fraction(m.ev)
	if !ok {
		line := label + "…"
		if el := m.now.Sub(m.start); el >= time.Second {
			line += m.dim.Render(" " + FormatDuration(el))
		}
		return line + "\n"
	}
	const labelWidth = 10
	m.bar.Width = min(max(m.width-labelWidth-8, 10), 50)
	var b strings.Builder
	b.WriteString(label + strings.Repeat(" ", max(labelWidth-len(label), 1)))
	b.WriteString(m.bar.ViewAs(f))
	b.WriteString(" " + padLeft(percent(f), 4) + "\n")
	details := countLine(m.ev)
	if rate, eta := rateETA(m.ev, m.start, m.now); rate > 0 {
		details += " · " + manifest.FormatBytes(int64(rate)) + "/s"
		if f < 1 {
			details += " · ETA " + FormatDuration(eta)
		}
	}
	b.WriteString(m.dim.Render("  "+details) + "\n")
	return b.String()
}

func percent(f float64) string { return fmt.Sprintf("%d%%", int(f*100)) }

func padLeft(s string, n int) string {
	if len(s) >= n {
		return s
	}
	return strings.Repeat(" ", n-len(s)) + s
}

// TUI runs Model in a bubbletea program on a terminal.
type TUI struct {
	p    *tea.Program
	done chan struct{}
}

// NewTUI starts the live view on w, which must be a terminal. It reads no
// input and installs no signal handler: Ctrl-C reaches the command, which
// cancels the deploy.
func NewTUI(w io.Writer, color bool) *TUI {
	t := &TUI{done: make(chan struct{})}
	t.p = tea.NewProgram(NewModel(color), tea.WithOutput(w), tea.WithInput(nil), tea.WithoutSignalHandler())
	go func() {
		defer close(t.done)
		t.p.Run() //nolint:errcheck // nothing to do about a failed view
	}()
	return t
}

// Event forwards ev to the view.
func (t *TUI) Event(ev client.Event) { t.p.Send(EventMsg{Event: ev, At: time.Now()}) }

// Close ends the view, leaving its last frame on screen.
func (t *TUI) Close() {
	t.p.Send(closeMsg{})
	<-t.done
}
