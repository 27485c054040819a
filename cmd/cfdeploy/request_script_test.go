package main

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// cmdRequest: request [-H NAME:VALUE]... METHOD URL [BODY] — sends one
// request (redirects not followed); the response body becomes stdout, the
// status line and headers stderr. Any status passes: scripts check it with
// stderr '^404 '.
func cmdRequest(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("request checks no status: match stderr instead")
	}
	header := http.Header{}
	for len(args) >= 2 && args[0] == "-H" {
		k, v, ok := strings.Cut(args[1], ":")
		if !ok {
			ts.Fatalf("request: -H wants NAME:VALUE, got %q", args[1])
		}
		header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
		args = args[2:]
	}
	if len(args) != 2 && len(args) != 3 {
		ts.Fatalf("usage: request [-H NAME:VALUE]... METHOD URL [BODY]")
	}
	var body io.Reader
	if len(args) == 3 {
		body = strings.NewReader(args[2])
	}
	req, err := http.NewRequest(args[0], args[1], body)
	ts.Check(err)
	req.Header = header
	c := &http.Client{
		Timeout:       20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := c.Do(req)
	ts.Check(err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	ts.Check(err)
	ts.Stdout().Write(b)
	fmt.Fprintf(ts.Stderr(), "%s\n", resp.Status)
	for k, v := range resp.Header {
		fmt.Fprintf(ts.Stderr(), "%s: %s\n", k, strings.Join(v, ", "))
	}
}
