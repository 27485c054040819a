package worker

import (
	"fmt"
	"net/http"
	"strings"
)

// LogFunc receives what a program's requests log for its owner to see:
// source "stderr" for each line the guest wrote to standard error, and
// "failure" for why a request failed, with the status it got. method and
// path are the request's.
type LogFunc func(method, path, source, level, msg string, status int)

// emitter is a LogFunc bound to one request; the zero value drops lines.
type emitter struct {
	log          LogFunc
	method, path string
}

func (p *Program) emitter(r *http.Request, req *Request) emitter {
	return emitter{log: p.Log, method: r.Method, path: req.RawPath}
}

// stderr hands the guest's standard error over line by line.
func (e emitter) stderr(text string) {
	if e.log == nil || text == "" {
		return
	}
	for line := range strings.SplitSeq(strings.TrimRight(text, "\n"), "\n") {
		e.log(e.method, e.path, "stderr", "log", strings.TrimSuffix(line, "\r"), 0)
	}
}

// failure says why the request answered status.
func (e emitter) failure(status int, format string, args ...any) {
	if e.log == nil {
		return
	}
	e.log(e.method, e.path, "failure", "error", fmt.Sprintf(format, args...), status)
}
