package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// cdpBrowser drives headless Chromium through the DevTools protocol over
// --remote-debugging-pipe: messages are JSON objects ended by a NUL byte,
// written to the browser's fd 3 and read from its fd 4. It needs no
// WebSocket and no library, and lets a test type into forms, click and
// take screenshots at a chosen width, where --dump-dom cannot.
type cdpBrowser struct {
	t       *testing.T
	cmd     *exec.Cmd
	in      io.WriteCloser
	session string

	mu      sync.Mutex
	nextID  int
	pending map[int]chan cdpReply
	dead    chan struct{}
}

type cdpReply struct {
	ID     int             `json:"id"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Message string `json:"message"`
	} `json:"error"`
}

// startCDP starts chromium and opens one page target to drive.
func startCDP(t *testing.T, chromium string) *cdpBrowser {
	t.Helper()
	toChrome, chromeIn, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	chromeOut, fromChrome, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
		"--hide-scrollbars", "--disable-popup-blocking", "--user-data-dir="+t.TempDir(), "--remote-debugging-pipe", "about:blank")
	cmd.ExtraFiles = []*os.File{toChrome, fromChrome} // fd 3: what it reads, fd 4: what it writes
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	toChrome.Close()
	fromChrome.Close()
	b := &cdpBrowser{t: t, cmd: cmd, in: chromeIn, pending: map[int]chan cdpReply{}, dead: make(chan struct{})}
	go b.read(chromeOut)
	t.Cleanup(func() {
		b.in.Close()
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("chromium stderr (tail): %s", tail(stderr.String(), 2000))
		}
	})
	var target struct {
		TargetID string `json:"targetId"`
	}
	b.callRaw("", "Target.createTarget", map[string]any{"url": "about:blank"}, &target)
	var att struct {
		SessionID string `json:"sessionId"`
	}
	b.callRaw("", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &att)
	b.session = att.SessionID
	b.call("Page.enable", nil, nil)
	b.call("Runtime.enable", nil, nil)
	return b
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// read delivers replies to their callers; events are not needed.
func (b *cdpBrowser) read(r io.Reader) {
	defer close(b.dead)
	br := bufio.NewReaderSize(r, 1<<20)
	for {
		msg, err := br.ReadBytes(0)
		if err != nil {
			return
		}
		var rep cdpReply
		if json.Unmarshal(msg[:len(msg)-1], &rep) != nil || rep.ID == 0 {
			continue
		}
		b.mu.Lock()
		ch := b.pending[rep.ID]
		delete(b.pending, rep.ID)
		b.mu.Unlock()
		if ch != nil {
			ch <- rep
		}
	}
}

// callRaw sends one command (to session, or to the browser when "") and
// decodes its result into out.
func (b *cdpBrowser) callRaw(session, method string, params, out any) {
	b.t.Helper()
	if err := b.try(session, method, params, out); err != nil {
		b.t.Fatal(err)
	}
}

// cdpError is an error answer of the browser to a call.
type cdpError struct{ method, message string }

func (e *cdpError) Error() string { return "cdp " + e.method + ": " + e.message }

// try is callRaw that returns the browser's error answer (a *cdpError)
// instead of failing the test; the test still fails when the browser does
// not answer at all.
func (b *cdpBrowser) try(session, method string, params, out any) error {
	b.t.Helper()
	b.mu.Lock()
	b.nextID++
	id := b.nextID
	ch := make(chan cdpReply, 1)
	b.pending[id] = ch
	b.mu.Unlock()
	msg := map[string]any{"id": id, "method": method}
	if params != nil {
		msg["params"] = params
	}
	if session != "" {
		msg["sessionId"] = session
	}
	j, _ := json.Marshal(msg)
	if _, err := b.in.Write(append(j, 0)); err != nil {
		b.t.Fatalf("cdp %s: %v", method, err)
	}
	select {
	case rep := <-ch:
		if rep.Error != nil {
			return &cdpError{method, rep.Error.Message}
		}
		if out != nil {
			if err := json.Unmarshal(rep.Result, out); err != nil {
				b.t.Fatalf("cdp %s: decode %s: %v", method, rep.Result, err)
			}
		}
	case <-b.dead:
		b.t.Fatalf("cdp %s: chromium went away", method)
	case <-time.After(60 * time.Second):
		b.t.Fatalf("cdp %s: no answer in 60s", method)
	}
	return nil
}

func (b *cdpBrowser) call(method string, params, out any) {
	b.t.Helper()
	b.callRaw(b.session, method, params, out)
}

// eval runs a JavaScript expression in the page and returns its value.
func (b *cdpBrowser) eval(expr string) any {
	b.t.Helper()
	var res struct {
		Result struct {
			Value any `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	b.call("Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true, "awaitPromise": true}, &res)
	if res.ExceptionDetails != nil {
		b.t.Fatalf("eval %s: %s %s", expr, res.ExceptionDetails.Text, res.ExceptionDetails.Exception.Description)
	}
	return res.Result.Value
}

// text returns a string expression's value.
func (b *cdpBrowser) text(expr string) string {
	b.t.Helper()
	v, _ := b.eval(expr).(string)
	return v
}

// waitFor polls a boolean expression until it is true, for at most a
// minute (a loaded 2-core machine is slow, never this slow).
func (b *cdpBrowser) waitFor(what, expr string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		var res struct {
			Result struct {
				Value any `json:"value"`
			} `json:"result"`
		}
		// An evaluation that meets the navigation it waits for is answered
		// "Inspected target navigated or closed": not yet, ask again.
		err := b.try(b.session, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true}, &res)
		if err != nil && !strings.Contains(err.Error(), "navigated") && !strings.Contains(err.Error(), "context") {
			b.t.Fatal(err)
		}
		if v, _ := res.Result.Value.(bool); err == nil && v {
			return
		}
		select {
		case <-ctx.Done():
			b.t.Fatalf("waiting for %s: still not true after a minute (page %s):\n%.3000s", what,
				b.text("location.href"), b.text("document.body ? document.body.innerText : ''"))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// navigate opens url and waits until the document it ends at (after any
// redirects) has loaded.
func (b *cdpBrowser) navigate(url string) {
	b.t.Helper()
	b.eval("window.__old = true")
	b.call("Page.navigate", map[string]any{"url": url}, nil)
	b.waitFor("load of "+url, "!window.__old && document.readyState === 'complete'")
}

// clickAndWait clicks the element selector names and waits until a page
// whose path satisfies pathCond (a JS expression over p) has loaded.
func (b *cdpBrowser) clickAndWait(selector, pathCond string) {
	b.t.Helper()
	b.eval(fmt.Sprintf(`(function(){ window.__old = true; const e = document.querySelector(%q); if (!e) throw new Error('no element %s'); e.click(); return true; })()`, selector, selector))
	b.waitFor("the page after clicking "+selector, fmt.Sprintf(`!window.__old && document.readyState === 'complete' && (function(p){ return %s; })(location.pathname + location.search)`, pathCond))
}

// screenshot saves the whole page at width CSS pixels as a PNG.
func (b *cdpBrowser) screenshot(width int, dark bool, path string) {
	b.t.Helper()
	scheme := "light"
	if dark {
		scheme = "dark"
	}
	b.call("Emulation.setEmulatedMedia", map[string]any{"features": []map[string]string{{"name": "prefers-color-scheme", "value": scheme}}}, nil)
	b.call("Emulation.setDeviceMetricsOverride", map[string]any{"width": width, "height": 800, "deviceScaleFactor": 1, "mobile": width < 600}, nil)
	var m struct {
		CSSContentSize struct {
			Height float64 `json:"height"`
		} `json:"cssContentSize"`
	}
	b.call("Page.getLayoutMetrics", nil, &m)
	h := max(800, int(m.CSSContentSize.Height))
	var shot struct {
		Data string `json:"data"`
	}
	b.call("Page.captureScreenshot", map[string]any{"format": "png", "captureBeyondViewport": true,
		"clip": map[string]any{"x": 0, "y": 0, "width": width, "height": h, "scale": 1}}, &shot)
	png, err := base64.StdEncoding.DecodeString(shot.Data)
	if err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}
