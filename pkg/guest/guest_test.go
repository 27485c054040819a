package guest

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cgi"
	"reflect"
	"strings"
	"testing"
)

// encode lays out vars and body as the host does.
func encode(vars []string, body string) []byte {
	var in []byte
	for _, kv := range vars {
		in = append(append(in, kv...), 0)
	}
	return append(append(in, 0), body...)
}

// helloVars are the variables cfhost sends for a plain GET.
var helloVars = []string{
	"GATEWAY_INTERFACE=CGI/1.1", "SERVER_SOFTWARE=cfhost", "SERVER_PROTOCOL=HTTP/1.1",
	"SERVER_NAME=p.localhost", "SERVER_PORT=80", "REQUEST_METHOD=GET", "REQUEST_URI=/",
	"SCRIPT_NAME=", "PATH_INFO=/", "X_RAW_PATH_INFO=/", "PATH_TRANSLATED=/", "QUERY_STRING=",
	"CONTENT_LENGTH=0", "REMOTE_ADDR=127.0.0.1", "REMOTE_HOST=127.0.0.1", "REMOTE_PORT=40000",
	"X_FULL_URL=http://p.localhost/", "X_MATCHED_ROUTE=/...", "HTTP_HOST=p.localhost",
	"AUTH_TYPE=", "REMOTE_USER=", "HTTP_USER_AGENT=wrk",
}

// TestNewRequestMatchesCGI checks that the request a handler sees is the
// one net/http/cgi builds from the same variables.
func TestNewRequestMatchesCGI(t *testing.T) {
	for _, tc := range []struct {
		name string
		vars []string
	}{
		{"hello", helloVars},
		{"query, body, headers", []string{
			"SERVER_PROTOCOL=HTTP/2.0", "REQUEST_METHOD=POST", "REQUEST_URI=/a%20b/c?x=1&y=%2F",
			"CONTENT_LENGTH=5", "CONTENT_TYPE=text/plain", "REMOTE_ADDR=::1", "REMOTE_PORT=x",
			"HTTP_HOST=h.example:8080", "HTTPS=on", "HTTP_X_FORWARDED_FOR=1.2.3.4",
			"HTTP_COOKIE=a=1; b=2", "HTTP_ACCEPT_ENCODING=gzip, br", "X_OTHER=ignored",
		}},
		{"no host, no request URI", []string{
			"SERVER_PROTOCOL=INCLUDED", "REQUEST_METHOD=GET", "SCRIPT_NAME=/s", "PATH_INFO=/p",
			"QUERY_STRING=q=1", "REMOTE_ADDR=10.0.0.1",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			params := map[string]string{}
			for _, kv := range tc.vars {
				k, v, _ := strings.Cut(kv, "=")
				params[k] = v
			}
			want, err := cgi.RequestFromMap(params)
			if err != nil {
				t.Fatal(err)
			}
			vars := string(encode(tc.vars, ""))
			got, err := newRequest(vars[:len(vars)-1])
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range []struct {
				name      string
				got, want any
			}{
				{"Method", got.Method, want.Method},
				{"Proto", [3]any{got.Proto, got.ProtoMajor, got.ProtoMinor}, [3]any{want.Proto, want.ProtoMajor, want.ProtoMinor}},
				{"URL", *got.URL, *want.URL},
				{"Host", got.Host, want.Host},
				{"Header", got.Header, want.Header},
				{"Trailer", got.Trailer, want.Trailer},
				{"ContentLength", got.ContentLength, want.ContentLength},
				{"RemoteAddr", got.RemoteAddr, want.RemoteAddr},
				{"TLS", got.TLS != nil, want.TLS != nil},
				{"Close", got.Close, want.Close},
			} {
				if !reflect.DeepEqual(f.got, f.want) {
					t.Errorf("%s = %#v, want %#v", f.name, f.got, f.want)
				}
			}
		})
	}
}

// TestHandle runs a handler through handle twice, so the second request
// reuses the first one's buffers, and checks the CGI answers.
func TestHandle(t *testing.T) {
	Serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-B", "2")
		w.Header().Add("X-A", "1")
		if r.Method == http.MethodPost {
			w.WriteHeader(http.StatusCreated)
		}
		fmt.Fprintf(w, "<p>%s %s %s", r.Method, r.URL.Path, b)
	}))
	defer Serve(nil)
	var out []byte
	for _, tc := range []struct{ in, want string }{
		{string(encode(helloVars, "")), "Status: 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nX-A: 1\r\nX-B: 2\r\n\r\n<p>GET / "},
		{string(encode([]string{"SERVER_PROTOCOL=HTTP/1.1", "REQUEST_METHOD=POST", "REQUEST_URI=/x"}, "body")),
			"Status: 201 Created\r\nContent-Type: text/html; charset=utf-8\r\nX-A: 1\r\nX-B: 2\r\n\r\n<p>POST /x body"},
		{"REQUEST_METHOD=GET\x00", "Status: 500 Internal Server Error\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nguest: request has no end of variables\n"},
		{"REQUEST_METHOD\x00\x00", "Status: 500 Internal Server Error\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nguest: request variable without '='\n"},
	} {
		out = handle([]byte(tc.in), out)
		if string(out) != tc.want {
			t.Errorf("handle(%q) = %q, want %q", tc.in, out, tc.want)
		}
	}
}

// BenchmarkHandle is the guest's own work for one request, natively:
// decoding the variables, the handler, encoding the answer. In wasm it
// costs several times more, and every byte allocated brings the next
// stop-the-world collection of the instance closer.
func BenchmarkHandle(b *testing.B) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "Hello from WebAssembly!")
	})
	Serve(mux)
	defer Serve(nil)
	in := encode(helloVars, "")
	var out []byte
	b.ReportAllocs()
	for b.Loop() {
		out = handle(in, out)
	}
}
