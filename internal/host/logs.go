package host

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/cfdeploy/cfdeploy/internal/host/jsrt"
	"github.com/cfdeploy/cfdeploy/internal/host/projectlog"
	"github.com/cfdeploy/cfdeploy/pkg/api"
)

// projectLogger returns what a deployment's server code hands its log lines
// to: the project's ring buffer, with the request's method and path.
func (h *Host) projectLog(project, deployment, method, path string) func(source, level, msg string, status int) {
	return func(source, level, msg string, status int) {
		h.logs.Append(project, api.LogEntry{
			Deployment: deployment, Source: source, Level: level, Message: msg,
			Method: method, Path: path, Status: status,
		})
	}
}

// jsLogs records a JS request's console lines in the project's log.
func jsLogs(emit func(source, level, msg string, status int), lines [][2]string) {
	for _, l := range lines {
		emit(api.LogConsole, l[0], l[1], 0)
	}
}

// jsFailure records why a JS request failed: an uncaught exception with its
// stack, or what stopped the instance.
func jsFailure(emit func(source, level, msg string, status int), fail *jsrt.Failure) {
	source := api.LogFailure
	if fail.Status == http.StatusInternalServerError {
		source = api.LogException
	}
	msg := "request failed"
	if fail.Err != nil {
		msg = fail.Err.Error()
	}
	emit(source, "error", msg, fail.Status)
}

// followHeartbeat is how often a following reader with nothing to read
// gets an empty line, so proxies and the client see the connection alive
// and a client that went away is noticed.
const followHeartbeat = 15 * time.Second

// handleLogs streams a project's log as newline-delimited JSON: the lines
// buffered now, and with ?follow=1 every new line until the client goes
// away, the project is deleted or the host stops.
func (h *Host) handleLogs(w http.ResponseWriter, r *http.Request, id string) error {
	p, err := h.project(r.Context(), id)
	if err != nil {
		return err
	}
	follow := false
	switch v := r.URL.Query().Get("follow"); v {
	case "", "0", "false":
	case "1", "true":
		follow = true
	default:
		return api.Errorf(api.CodeInvalid, "follow=%q: want 1 or 0", v)
	}
	if !follow {
		lines := h.logs.Lines(p.ID)
		setLogHeaders(w)
		w.WriteHeader(http.StatusOK)
		enc := json.NewEncoder(w)
		for _, e := range lines {
			if err := enc.Encode(e); err != nil {
				return nil // the client is gone
			}
		}
		return nil
	}
	backlog, f, err := h.logs.Follow(p.ID)
	if errors.Is(err, projectlog.ErrTooManyFollowers) {
		w.Header().Set("Retry-After", "10")
		return api.Errorf(api.CodeRateLimited, "%d readers already follow the logs of project %s (--logs-followers)", h.logs.Config().Followers, p.ID)
	}
	if err != nil {
		return err
	}
	defer f.Close()
	rc := http.NewResponseController(w)
	setLogHeaders(w)
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	for _, e := range backlog {
		if enc.Encode(e) != nil {
			return nil
		}
	}
	if rc.Flush() != nil {
		return nil
	}
	beat := time.NewTicker(followHeartbeat)
	defer beat.Stop()
	for {
		select {
		case <-r.Context().Done():
			return nil
		case <-h.streamsDone:
			return nil
		case <-f.Done():
			return nil
		case <-beat.C:
			if _, err := w.Write([]byte("\n")); err != nil {
				return nil
			}
		case e := <-f.C:
			if n := f.Dropped(); n > 0 {
				note := api.LogEntry{Time: e.Time, Source: api.LogHost, Level: "warn",
					Message: fmt.Sprintf("%d log lines dropped: this reader fell behind", n)}
				if enc.Encode(note) != nil {
					return nil
				}
			}
			if enc.Encode(e) != nil {
				return nil
			}
			// Whatever else is waiting goes in the same write.
			for more := true; more; {
				select {
				case e := <-f.C:
					if enc.Encode(e) != nil {
						return nil
					}
				default:
					more = false
				}
			}
		}
		if rc.Flush() != nil {
			return nil
		}
	}
}

func setLogHeaders(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
}

// EndStreams ends every log stream that follows a project, so a graceful
// shutdown does not wait for readers that never leave. Serve calls it
// through http.Server.RegisterOnShutdown.
func (h *Host) EndStreams() {
	h.endStreams.Do(func() { close(h.streamsDone) })
}
