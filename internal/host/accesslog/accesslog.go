// Package accesslog writes one line per served request without putting the
// write on the request's path.
//
// A request formats its line into a shared, reused buffer (no allocation)
// and goes on; a background goroutine writes whole batches to the sink at
// least once a second. A sink that cannot keep up never blocks a response:
// when every batch buffer is waiting to be written, new lines are dropped
// and counted, and the count is reported in the log itself once the sink
// catches up. slog's handlers, by contrast, format with allocations and
// make one write system call per line, which halved cfhost's static
// throughput.
package accesslog

import (
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// Format selects the line format.
type Format int

const (
	// Logfmt writes key=value pairs, values quoted when they need it.
	Logfmt Format = iota
	// JSON writes one JSON object per line.
	JSON
)

// ParseFormat reads "logfmt" or "json".
func ParseFormat(s string) (Format, error) {
	switch s {
	case "logfmt":
		return Logfmt, nil
	case "json":
		return JSON, nil
	}
	return 0, fmt.Errorf("access log format %q is not logfmt or json", s)
}

// Entry is one served request.
type Entry struct {
	Time     time.Time
	Method   string
	Host     string
	Path     string
	Status   int
	Bytes    int64
	Duration time.Duration
	Remote   string
	// By says what answered a project request: "asset", "server_code" or
	// "none" (no such project, nothing deployed, a refused target); ""
	// leaves the field out.
	By string
}

const (
	// batchBytes is when a batch is handed to the writer before its
	// second is up: large enough that a busy host makes few write calls.
	batchBytes = 64 << 10
	// batches is how many batch buffers exist: one being filled, the rest
	// queued for the sink. When all are queued, lines are dropped.
	batches = 8
	// maxField bounds what one field may add to a line, so a hostile
	// 16 KiB path cannot make every line huge.
	maxField = 2048
)

// Writer is an access log. Its methods are safe for concurrent use.
type Writer struct {
	format Format

	mu  sync.Mutex
	cur []byte // the batch being filled
	// second and secondText are the last whole second a line was logged
	// in and its text up to the seconds, reused by the next line in it.
	second     int64
	secondText []byte

	free    chan []byte // empty batch buffers
	full    chan []byte // batches waiting for the sink
	dropped atomic.Int64

	sinkMu sync.Mutex
	sink   io.Writer

	stop chan struct{}
	done chan struct{}
}

// New starts a Writer that writes batches to sink.
func New(sink io.Writer, format Format) *Writer {
	w := &Writer{
		format: format,
		free:   make(chan []byte, batches),
		full:   make(chan []byte, batches),
		sink:   sink,
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	for range batches - 1 {
		w.free <- make([]byte, 0, batchBytes+2*maxField)
	}
	w.cur = make([]byte, 0, batchBytes+2*maxField)
	go w.run(time.Second)
	return w
}

// SetSink replaces where batches go, for reopening a rotated file. The
// caller closes the old sink if it needs closing.
func (w *Writer) SetSink(sink io.Writer) {
	w.sinkMu.Lock()
	w.sink = sink
	w.sinkMu.Unlock()
}

// Dropped is how many lines were dropped because the sink was slow.
func (w *Writer) Dropped() int64 { return w.dropped.Load() }

// Log appends e's line to the current batch. It never waits for the sink.
func (w *Writer) Log(e Entry) {
	w.mu.Lock()
	if w.cur == nil {
		// Every buffer is queued for a slow sink.
		w.mu.Unlock()
		w.dropped.Add(1)
		return
	}
	w.cur = w.appendEntry(w.cur, &e)
	if len(w.cur) >= batchBytes {
		w.handOff()
	}
	w.mu.Unlock()
}

// handOff queues the current batch for the sink and takes an empty buffer,
// or none when all are queued. w.mu is held.
func (w *Writer) handOff() {
	if len(w.cur) == 0 {
		return
	}
	w.full <- w.cur // never blocks: there are as many places as buffers
	select {
	case w.cur = <-w.free:
	default:
		w.cur = nil
	}
}

// Flush queues what has been logged so far for the sink.
func (w *Writer) Flush() {
	w.mu.Lock()
	w.handOff()
	w.mu.Unlock()
}

// Close writes every logged line and stops the writer.
func (w *Writer) Close() error {
	w.Flush()
	close(w.stop)
	<-w.done
	return nil
}

func (w *Writer) run(every time.Duration) {
	defer close(w.done)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case b := <-w.full:
			w.write(b)
		case <-tick.C:
			w.Flush()
		case <-w.stop:
			for {
				select {
				case b := <-w.full:
					w.write(b)
				default:
					return
				}
			}
		}
	}
}

// write sends one batch to the sink, reports drops, and returns the buffer.
func (w *Writer) write(b []byte) {
	w.sinkMu.Lock()
	w.sink.Write(b)
	if n := w.dropped.Swap(0); n > 0 {
		fmt.Fprintf(w.sink, w.dropLine(), time.Now().UTC().Format(time.RFC3339), n)
	}
	w.sinkMu.Unlock()
	b = b[:0]
	w.mu.Lock()
	if w.cur == nil {
		w.cur = b
	} else {
		w.free <- b
	}
	w.mu.Unlock()
}

func (w *Writer) dropLine() string {
	if w.format == JSON {
		return `{"time":%q,"msg":"access log lines dropped: the log's output was too slow","dropped":%d}` + "\n"
	}
	return `time=%s msg="access log lines dropped: the log's output was too slow" dropped=%d` + "\n"
}

func (w *Writer) appendEntry(b []byte, e *Entry) []byte {
	json := w.format == JSON
	if json {
		b = append(b, `{"time":"`...)
	} else {
		b = append(b, "time="...)
	}
	b = w.appendTime(b, e.Time)
	if json {
		b = append(b, '"')
	}
	b = appendString(b, json, "method", e.Method)
	b = appendString(b, json, "host", e.Host)
	b = appendString(b, json, "path", e.Path)
	b = appendInt(b, json, "status", int64(e.Status))
	b = appendInt(b, json, "bytes", e.Bytes)
	b = appendInt(b, json, "duration_us", e.Duration.Microseconds())
	b = appendString(b, json, "remote", e.Remote)
	if e.By != "" {
		b = appendString(b, json, "by", e.By)
	}
	if json {
		b = append(b, '}')
	}
	return append(b, '\n')
}

// appendTime appends t in UTC with milliseconds, 2006-01-02T15:04:05.000Z.
// time.Time.AppendFormat was a third of what formatting a line cost; the
// part up to the seconds changes once a second, so it is formatted then
// and copied meanwhile. w.mu is held.
func (w *Writer) appendTime(b []byte, t time.Time) []byte {
	t = t.UTC()
	if sec := t.Unix(); sec != w.second || w.secondText == nil {
		w.second = sec
		w.secondText = t.AppendFormat(w.secondText[:0], "2006-01-02T15:04:05")
	}
	b = append(b, w.secondText...)
	ms := t.Nanosecond() / 1e6
	return append(b, '.', byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10), 'Z')
}

func appendKey(b []byte, json bool, key string) []byte {
	if json {
		b = append(b, ',', '"')
		b = append(b, key...)
		return append(b, '"', ':')
	}
	b = append(b, ' ')
	b = append(b, key...)
	return append(b, '=')
}

func appendInt(b []byte, json bool, key string, n int64) []byte {
	return strconv.AppendInt(appendKey(b, json, key), n, 10)
}

// appendString writes s, cut at maxField bytes, quoted and escaped when the
// format needs it: always in JSON, in logfmt when s is empty or has a
// space, quote, equals sign or a byte that is not printable ASCII.
func appendString(b []byte, json bool, key, s string) []byte {
	b = appendKey(b, json, key)
	cut := len(s) > maxField
	if cut {
		s = s[:maxField]
	}
	if !json && !needsQuote(s) && !cut {
		return append(b, s...)
	}
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < 0x7f && c != '"' && c != '\\' {
			b = append(b, c)
			i++
			continue
		}
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
			i++
			continue
		case '\n':
			b = append(b, '\\', 'n')
			i++
			continue
		case '\t':
			b = append(b, '\\', 't')
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r != utf8.RuneError || size > 1 {
				b = append(b, s[i:i+size]...)
				i += size
				continue
			}
		}
		// Control characters and invalid UTF-8 as \u00XX, which both
		// formats read back as the byte's value.
		b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		i++
	}
	if cut {
		b = append(b, "..."...)
	}
	return append(b, '"')
}

const hex = "0123456789abcdef"

func needsQuote(s string) bool {
	if s == "" {
		return true
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == '"' || c == '=' || c == '\\' {
			return true
		}
	}
	return false
}
