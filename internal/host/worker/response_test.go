package worker

import (
	"bytes"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

func TestParseResponse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		out     string
		status  int
		header  http.Header
		body    string
		handoff string
		err     string // substring of the error; "" means success
	}{
		{name: "plain", out: "Content-Type: text/plain\r\n\r\nhi", status: 200,
			header: http.Header{"Content-Type": {"text/plain"}}, body: "hi"},
		{name: "LF only", out: "Content-Type: text/plain\n\nhi\r\n\r\n", status: 200,
			header: http.Header{"Content-Type": {"text/plain"}}, body: "hi\r\n\r\n"},
		{name: "mixed endings", out: "Content-Type: a\r\nX-B: 1\n\r\nbody", status: 200,
			header: http.Header{"Content-Type": {"a"}, "X-B": {"1"}}, body: "body"},
		{name: "status and reason", out: "Status: 404 Not Found\r\nContent-Type: t\r\n\r\n", status: 404,
			header: http.Header{"Content-Type": {"t"}}},
		{name: "status alone", out: "Status: 204\r\n\r\n", status: 204, header: http.Header{}},
		{name: "names canonicalized, values trimmed", out: "content-type:  \ttext/html \t\r\nx-thing:a\r\n\r\n", status: 200,
			header: http.Header{"Content-Type": {"text/html"}, "X-Thing": {"a"}}},
		{name: "repeats kept in order", out: "Content-Type: t\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nset-cookie: c=3\r\n\r\n", status: 200,
			header: http.Header{"Content-Type": {"t"}, "Set-Cookie": {"a=1", "b=2", "c=3"}}},
		{name: "framing headers dropped", out: "Content-Type: t\r\nContent-Length: 99\r\nConnection: close\r\nTransfer-Encoding: chunked\r\nKeep-Alive: 1\r\nUpgrade: x\r\nTrailer: y\r\n\r\nab", status: 200,
			header: http.Header{"Content-Type": {"t"}}, body: "ab"},
		{name: "local redirect", out: "Location: /a/b?c=d\r\nSet-Cookie: x=1\r\nContent-Type: t\r\n\r\nignored", status: 0,
			header: http.Header{"Set-Cookie": {"x=1"}}, handoff: "/a/b?c=d"},
		{name: "client redirect", out: "Location: https://x.test/\r\n\r\n", status: 302,
			header: http.Header{"Location": {"https://x.test/"}}},
		{name: "protocol-relative is not local", out: "Location: //x.test/\r\n\r\n", status: 302,
			header: http.Header{"Location": {"//x.test/"}}},
		{name: "location with status passes through", out: "Status: 301\r\nLocation: /moved\r\n\r\n", status: 301,
			header: http.Header{"Location": {"/moved"}}},
		{name: "accel redirect with status", out: "Status: 200 OK\r\nX-Accel-Redirect: /f.txt\r\nContent-Type: t\r\nX-Keep: 1\r\n\r\nignored", status: 200,
			header: http.Header{"X-Keep": {"1"}}, handoff: "/f.txt"},
		{name: "accel alone is enough", out: "X-Accel-Redirect: /f.txt\r\n\r\n", status: 0,
			header: http.Header{}, handoff: "/f.txt"},
		{name: "body keeps blank lines", out: "Content-Type: t\r\n\r\n\r\n\r\nx", status: 200,
			header: http.Header{"Content-Type": {"t"}}, body: "\r\n\r\nx"},

		{name: "empty", out: "", err: "empty output"},
		{name: "no blank line", out: "Content-Type: t\r\n", err: "no blank line"},
		{name: "no blank line, no newline", out: "Content-Type: t", err: "no blank line"},
		{name: "nothing useful", out: "X-A: 1\r\n\r\nbody", err: "at least one of"},
		{name: "empty header block", out: "\r\nbody", err: "at least one of"},
		{name: "no colon", out: "Content-Type text\r\n\r\n", err: "no \"name:\""},
		{name: "empty name", out: ": v\r\n\r\n", err: "no \"name:\""},
		{name: "space in name", out: "Content Type: t\r\n\r\n", err: "invalid name"},
		{name: "folded line", out: "Content-Type: t\r\n  more\r\n\r\n", err: "white space"},
		{name: "NPH status line", out: "HTTP/1.1 200 OK\r\nContent-Type: t\r\n\r\n", err: "no \"name:\""},
		{name: "status not a number", out: "Status: abc\r\n\r\n", err: "not \"NNN"},
		{name: "status too short", out: "Status: 20\r\n\r\n", err: "not \"NNN"},
		{name: "status glued reason", out: "Status: 200OK\r\n\r\n", err: "not \"NNN"},
		{name: "status 1xx", out: "Status: 101\r\n\r\n", err: "outside"},
		{name: "status 600", out: "Status: 600\r\n\r\n", err: "outside"},
		{name: "two statuses", out: "Status: 200\r\nStatus: 201\r\n\r\n", err: "more than one Status"},
		{name: "two locations", out: "Location: /a\r\nLocation: /b\r\n\r\n", err: "more than one Location"},
		{name: "accel to another host", out: "X-Accel-Redirect: //evil/\r\n\r\n", err: "not a local path"},
		{name: "accel relative", out: "X-Accel-Redirect: f.txt\r\n\r\n", err: "not a local path"},
		{name: "control char in value", out: "Content-Type: a\x00b\r\n\r\n", err: "control character"},
		{name: "bare CR in value", out: "Content-Type: a\rb\r\n\r\n", err: "control character"},
		{name: "header block too big", out: "Content-Type: t\r\nX-Big: " + strings.Repeat("a", maxHeaderBlock) + "\r\n\r\n", err: "no blank line within"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := parseResponse([]byte(tt.out))
			if tt.err != "" {
				if err == nil {
					t.Fatalf("parsed, want error %q", tt.err)
				}
				if !errors.Is(err, errMalformed) || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %q, want errMalformed saying %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.status != tt.status || res.handoff != tt.handoff || string(res.body) != tt.body {
				t.Errorf("status %d handoff %q body %q, want %d %q %q", res.status, res.handoff, res.body, tt.status, tt.handoff, tt.body)
			}
			if !reflect.DeepEqual(res.header, tt.header) {
				t.Errorf("header %v, want %v", res.header, tt.header)
			}
		})
	}
}

// FuzzParseResponse checks that no guest output can crash the parser and
// that what it accepts is consistent.
func FuzzParseResponse(f *testing.F) {
	for _, seed := range []string{
		"Content-Type: text/plain\r\n\r\nhi",
		"Status: 302\nLocation: /x\n\n",
		"Location: /a?b\r\nSet-Cookie: a\r\nSet-Cookie: b\r\n\r\nbody",
		"X-Accel-Redirect: /f\r\nStatus: 418 teapot\r\n\r\n",
		"HTTP/1.1 200 OK\r\n\r\n",
		"\r\n\r\n",
		"Content-Type: a\r\n  folded\r\n\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, out []byte) {
		res, err := parseResponse(out)
		if err != nil {
			if !errors.Is(err, errMalformed) {
				t.Fatalf("error %v does not wrap errMalformed", err)
			}
			return
		}
		if res.handoff != "" {
			if !isLocalPath(res.handoff) || res.body != nil {
				t.Fatalf("hand-off %q with body %q", res.handoff, res.body)
			}
		} else {
			if res.status < 200 || res.status > 599 {
				t.Fatalf("status %d", res.status)
			}
			if !bytes.HasSuffix(out, res.body) {
				t.Fatalf("body %q is not the tail of the output", res.body)
			}
		}
		for k, vs := range res.header {
			if droppedResponseHeaders[k] || k == "Status" || k == "X-Accel-Redirect" {
				t.Fatalf("header %q passed through", k)
			}
			if !validHeaderName(k) {
				t.Fatalf("invalid header name %q", k)
			}
			for _, v := range vs {
				if !validHeaderValue(v) {
					t.Fatalf("invalid value %q", v)
				}
			}
		}
	})
}
