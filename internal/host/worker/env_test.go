package worker

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestValidateEnvName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ok   bool
	}{
		{"API_KEY", true},
		{"A", true},
		{"DB2_URL", true},
		{"", false},
		{"api_key", false},
		{"2FA", false},
		{"_X", false},
		{"A-B", false},
		{"HTTP_PROXY", false},
		{"X_FULL_URL", false},
		{"CFHOST_ASSETS_DIR", false},
		{"PATH_INFO", false},
		{"HTTPS", false},
		{"CONTENT_LENGTH", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := ValidateEnvName(tt.name); (err == nil) != tt.ok {
				t.Errorf("ValidateEnvName(%q) = %v, want ok=%v", tt.name, err, tt.ok)
			}
		})
	}
	if err := ValidateEnv(map[string]string{"OK": "a\x00b"}); err == nil {
		t.Error("ValidateEnv accepted a NUL in a value")
	}
	if err := ValidateEnv(map[string]string{"OK": "fine", "ALSO_OK": ""}); err != nil {
		t.Errorf("ValidateEnv: %v", err)
	}
}

func TestBuildEnv(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		target string
		host   string
		req    Request
		header http.Header
		want   map[string]string
		absent []string
	}{
		{
			name: "escaped path and query", target: "/a%20b/c%2Fd?x=1&y", host: "app.test:8080",
			want: map[string]string{
				"PATH_INFO": "/a b/c/d", "X_RAW_PATH_INFO": "/a%20b/c%2Fd", "REQUEST_URI": "/a%20b/c%2Fd?x=1&y",
				"QUERY_STRING": "x=1&y", "SERVER_NAME": "app.test", "SERVER_PORT": "8080",
				"X_FULL_URL": "http://app.test:8080/a%20b/c%2Fd?x=1&y",
			},
		},
		{
			name: "https default port", target: "/", host: "app.test", req: Request{Scheme: "https"},
			want:   map[string]string{"SERVER_PORT": "443", "HTTPS": "on", "X_FULL_URL": "https://app.test/"},
			absent: []string{},
		},
		{
			name: "http default port", target: "/", host: "app.test",
			want: map[string]string{"SERVER_PORT": "80", "QUERY_STRING": ""}, absent: []string{"HTTPS"},
		},
		{
			name: "ipv6", target: "/", host: "[::1]:9000", req: Request{RemoteAddr: "[2001:db8::1]:4321"},
			want: map[string]string{"SERVER_NAME": "[::1]", "SERVER_PORT": "9000", "REMOTE_ADDR": "2001:db8::1", "REMOTE_PORT": "4321"},
		},
		{
			name: "headers", target: "/", host: "h",
			header: http.Header{
				"Content-Type":  {"application/json"},
				"Authorization": {"Basic x"},
				"Proxy":         {"p"},
				"Connection":    {"keep-alive"},
				"Upgrade":       {"websocket"},
				"X_Spoof":       {"1"},
				"Accept":        {"a", "b"},
				"Cookie":        {"a=1", "b=2"},
				"X-Nul":         {"a\x00b"},
			},
			want: map[string]string{
				"CONTENT_TYPE": "application/json", "HTTP_AUTHORIZATION": "Basic x",
				"HTTP_ACCEPT": "a, b", "HTTP_COOKIE": "a=1; b=2",
			},
			absent: []string{"HTTP_PROXY", "HTTP_CONNECTION", "HTTP_UPGRADE", "HTTP_X_SPOOF", "HTTP_CONTENT_TYPE", "HTTP_X_NUL"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "http://"+tt.host+tt.target, nil)
			for k, v := range tt.header {
				r.Header[k] = v
			}
			req := tt.req.fill(r)
			env := map[string]string{}
			var order []string
			for _, e := range buildEnv(r, &req, 0, &Program{}) {
				if _, dup := env[e.name]; dup {
					t.Errorf("%s set twice", e.name)
				}
				env[e.name] = e.value
				order = append(order, e.name)
			}
			if strings.Join(order[:3], ",") != "GATEWAY_INTERFACE,SERVER_SOFTWARE,SERVER_PROTOCOL" {
				t.Errorf("order starts %v", order[:3])
			}
			for k, v := range tt.want {
				if got, ok := env[k]; !ok || got != v {
					t.Errorf("%s = %q (set %v), want %q", k, got, ok, v)
				}
			}
			for _, k := range tt.absent {
				if v, ok := env[k]; ok {
					t.Errorf("%s = %q, want absent", k, v)
				}
			}
		})
	}
}

func TestRequestFill(t *testing.T) {
	t.Parallel()
	r := httptest.NewRequest(http.MethodGet, "http://h.test/__project/p/x%20y?q=1", nil)
	tests := []struct {
		name           string
		in             Request
		path, rawQuery string
	}{
		{"all from the request", Request{}, "/__project/p/x%20y", "q=1"},
		{"host's path and query", Request{RawPath: "/x%20y", RawQuery: "q=1"}, "/x%20y", "q=1"},
		{"host's path without a query", Request{RawPath: "/x%20y"}, "/x%20y", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.in.fill(r)
			if got.RawPath != tt.path || got.RawQuery != tt.rawQuery || got.Scheme != "http" || got.Host != "h.test" {
				t.Errorf("fill = %+v", got)
			}
		})
	}
}
