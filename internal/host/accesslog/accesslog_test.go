package accesslog

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cfdeploy/cfdeploy/internal/poll"
)

// syncBuffer is a sink tests can read while the writer writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var sample = Entry{
	Time: time.Date(2026, 12, 4, 13, 0, 0, 123e6, time.UTC), Method: "GET", Host: "p.localhost:8788",
	Path: "/a b/\"q\"=\n\x00\xff/é", Status: 200, Bytes: 4096, Duration: 1500 * time.Microsecond, Remote: "127.0.0.1:5000",
}

func TestLogfmtLine(t *testing.T) {
	var out syncBuffer
	w := New(&out, Logfmt)
	w.Log(sample)
	w.Close()
	want := `time=2026-12-04T13:00:00.123Z method=GET host=p.localhost:8788 path="/a b/\"q\"=\n\u0000\u00ff/é" status=200 bytes=4096 duration_us=1500 remote=127.0.0.1:5000` + "\n"
	if got := out.String(); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestJSONLine(t *testing.T) {
	var out syncBuffer
	w := New(&out, JSON)
	w.Log(sample)
	long := sample
	long.Path = "/" + strings.Repeat("x", 3*maxField)
	w.Log(long)
	w.Close()
	sc := bufio.NewScanner(strings.NewReader(out.String()))
	var lines []map[string]any
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		lines = append(lines, m)
	}
	if len(lines) != 2 || lines[0]["method"] != "GET" || lines[0]["status"] != 200.0 || lines[0]["path"] != "/a b/\"q\"=\n\x00\u00ff/é" {
		t.Fatalf("lines %v", lines)
	}
	if p := lines[1]["path"].(string); len(p) != maxField+3 || !strings.HasSuffix(p, "...") {
		t.Fatalf("a long path is kept to %d bytes", len(p))
	}
}

// blockingSink stands for an output that stopped taking data (a full
// pipe): its writes wait until released.
type blockingSink struct {
	release chan struct{}
	syncBuffer
}

func (b *blockingSink) Write(p []byte) (int, error) {
	<-b.release
	return b.syncBuffer.Write(p)
}

// A stalled sink never blocks a request: lines beyond the buffers are
// dropped, counted, and the count is written once the sink moves again.
func TestSlowSinkDropsAndReports(t *testing.T) {
	sink := &blockingSink{release: make(chan struct{})}
	w := New(sink, Logfmt)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 100_000 {
			w.Log(sample)
		}
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Log blocked on a stalled sink")
	}
	dropped := w.Dropped()
	if dropped == 0 {
		t.Fatal("nothing dropped although the sink took nothing")
	}
	close(sink.release)
	w.Close()
	out := sink.String()
	if !strings.Contains(out, "dropped=") {
		t.Fatalf("no drop report in %d bytes of log", len(out))
	}
	if lines := strings.Count(out, "\n") - 1; int64(lines)+dropped != 100_000 {
		t.Fatalf("%d lines written + %d dropped != 100000", lines, dropped)
	}
}

// Lines reach the sink within about a second even when few are logged.
func TestFlushesWhileIdle(t *testing.T) {
	var out syncBuffer
	w := New(&out, Logfmt)
	defer w.Close()
	w.Log(sample)
	poll.Until(t, 10*time.Second, "the logged line to be written", func() bool { return out.String() != "" })
}

func TestLogDoesNotAllocate(t *testing.T) {
	w := New(io.Discard, JSON)
	defer w.Close()
	if n := testing.AllocsPerRun(1000, func() { w.Log(sample) }); n != 0 {
		t.Fatalf("%v allocations per line", n)
	}
}

// benchFormats runs bench once per line format with a Writer to
// io.Discard and a typical asset request's entry.
func benchFormats(b *testing.B, bench func(b *testing.B, w *Writer, e Entry)) {
	for _, f := range []struct {
		name   string
		format Format
	}{{"logfmt", Logfmt}, {"json", JSON}} {
		b.Run(f.name, func(b *testing.B) {
			w := New(io.Discard, f.format)
			defer w.Close()
			e := sample
			e.Path = "/assets/app.3f9a2c.js"
			b.ReportAllocs()
			bench(b, w, e)
		})
	}
}

func BenchmarkLog(b *testing.B) {
	benchFormats(b, func(b *testing.B, w *Writer, e Entry) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				w.Log(e)
			}
		})
	})
}

// BenchmarkFormatLine is the formatting of one line alone, on one
// goroutine: what each request pays under the Writer's lock.
func BenchmarkFormatLine(b *testing.B) {
	benchFormats(b, func(b *testing.B, w *Writer, e Entry) {
		buf := make([]byte, 0, 1024)
		for b.Loop() {
			buf = w.appendEntry(buf[:0], &e)
		}
	})
}

// The time field reuses the text of its second; it must read exactly as
// AppendFormat's, across seconds, in any order and any time zone.
func TestTimeFieldMatchesAppendFormat(t *testing.T) {
	w := New(io.Discard, Logfmt)
	defer w.Close()
	base := time.Date(2026, 12, 4, 23, 59, 59, 0, time.UTC)
	east := time.FixedZone("east", 5*3600+30*60)
	var times []time.Time
	for _, d := range []time.Duration{0, time.Millisecond, 999 * time.Millisecond, 999999999, time.Second, time.Second + 1, -1, -time.Second, 24 * time.Hour} {
		times = append(times, base.Add(d), base.Add(d).In(east))
	}
	times = append(times, time.Unix(-1, 5e8), time.Unix(0, 0), time.Unix(-86400*365*80, 123456789), base, base.Add(time.Millisecond))
	for _, tm := range times {
		got := string(w.appendTime(nil, tm))
		want := tm.UTC().Format("2006-01-02T15:04:05.000Z07:00")
		if got != want {
			t.Errorf("appendTime(%v) = %s, want %s", tm, got, want)
		}
	}
}
