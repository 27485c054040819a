package dashboard

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/cfdeploy/cfdeploy/pkg/api"
)

// logsMark is where the log lines go in the rendered logs page.
const logsMark = "<!--log-lines-->"

// maxLogLine bounds one log line the page reads from the stream.
const maxLogLine = 64 << 10

// handleLogs shows a project's server-code log, from the API's NDJSON
// stream (GET /__api/projects/:id/logs). The page is one HTML document
// that grows as lines arrive (?follow=1 keeps it open), so it needs no
// script and no second request that a page of another origin could make.
func (d *Dashboard) handleLogs(w http.ResponseWriter, r *http.Request, s session) {
	id := r.PathValue("id")
	var pr api.ProjectResponse
	if err := d.call(r, s, http.MethodGet, apiPath(id), nil, &pr); err != nil {
		d.fail(w, r, s, err)
		return
	}
	follow := r.URL.Query().Get("follow") == "1"
	p := pageData{Title: "Logs of " + pr.Project.Name, Project: &pr.Project, Follow: follow}
	path := apiPath(id, "logs")
	if follow {
		path += "?follow=1"
	}
	// A followed stream ends with the session, so a forgotten tab does not
	// hold a connection for ever.
	ctx, cancel := context.WithDeadline(r.Context(), time.Unix(s.Issued, 0).Add(d.cfg.SessionTTL))
	defer cancel()
	body, err := d.stream(r.WithContext(ctx), s, path)
	if err != nil {
		d.fail(w, r, s, err)
		return
	}
	var page bytes.Buffer
	p.SignedIn, p.Admin, p.Scope, p.CSRF = true, s.admin(), s.Project, d.keys.csrfToken(s)
	if err := d.pages["logs"].Execute(&page, p); err != nil {
		body.Close()
		d.fail(w, r, s, err)
		return
	}
	head, tail, _ := strings.Cut(page.String(), logsMark)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	fmt.Fprint(w, head)
	rc.Flush()
	defer body.Close()
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 4096), maxLogLine)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		if _, err := fmt.Fprint(w, logLine(sc.Bytes())); err != nil {
			return
		}
		rc.Flush()
	}
	if sc.Err() != nil && ctx.Err() == nil {
		fmt.Fprintf(w, `<li class="log-note">The log stream stopped: %s</li>`, template.HTMLEscapeString(sc.Err().Error()))
	}
	fmt.Fprint(w, tail)
}

// logLine renders one NDJSON line of the log stream: its time, level and
// message when it has them, else the line as it came.
func logLine(b []byte) string {
	var m map[string]any
	if json.Unmarshal(b, &m) != nil {
		return `<li class="log-line"><span class="log-msg">` + template.HTMLEscapeString(string(b)) + `</span></li>`
	}
	str := func(keys ...string) string {
		for _, k := range keys {
			if v, ok := m[k]; ok {
				if s, ok := v.(string); ok {
					return s
				}
				j, _ := json.Marshal(v)
				return string(j)
			}
		}
		return ""
	}
	when, level, msg := str("time", "ts", "timestamp"), str("level"), str("message", "msg", "line", "text")
	source, method, path, status := str("source"), str("method"), str("path"), str("status")
	if msg == "" {
		msg = string(b)
	}
	var sb strings.Builder
	sb.WriteString(`<li class="log-line`)
	if level != "" {
		sb.WriteString(` log-` + template.HTMLEscapeString(strings.ToLower(level)))
	}
	sb.WriteString(`">`)
	if t, err := time.Parse(time.RFC3339Nano, when); err == nil {
		fmt.Fprintf(&sb, `<time datetime="%s" title="%s">%s</time>`, t.UTC().Format(time.RFC3339Nano),
			t.UTC().Format("2006-01-02 15:04:05.000 UTC"), t.UTC().Format("15:04:05"))
	} else if when != "" {
		sb.WriteString(`<time>` + template.HTMLEscapeString(when) + `</time>`)
	}
	if level != "" {
		sb.WriteString(`<span class="log-level">` + template.HTMLEscapeString(level) + `</span>`)
	}
	if req := strings.TrimSpace(method + " " + path); req != "" {
		if status != "" {
			req += " → " + status
		}
		sb.WriteString(`<span class="log-req">` + template.HTMLEscapeString(req) + `</span>`)
	}
	if source != "" && source != "console" {
		msg = "[" + source + "] " + msg
	}
	sb.WriteString(`<span class="log-msg">` + template.HTMLEscapeString(msg) + `</span></li>` + "\n")
	return sb.String()
}
