package main

import (
	"testing"
)

func TestProjectURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		host, domain, id, want string
	}{
		{"http://127.0.0.1:8788", "", "abc", "http://127.0.0.1:8788/__project/abc/"},
		{"https://deploy.example.com/", "", "abc", "https://deploy.example.com/__project/abc/"},
		{"https://deploy.example.com/base", "", "abc", "https://deploy.example.com/base/__project/abc/"},
		{"http://127.0.0.1:8788", "localhost", "abc", "http://abc.localhost:8788/"},
		{"https://api.example.com", ".pages.example.com", "abc", "https://abc.pages.example.com/"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			if got := projectURL(tc.host, tc.domain, tc.id); got != tc.want {
				t.Errorf("projectURL(%q, %q, %q) = %q, want %q", tc.host, tc.domain, tc.id, got, tc.want)
			}
		})
	}
}

func TestRunWorkerFirstJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      any
		want    string
		wantErr bool
	}{
		{"unset", nil, "", false},
		{"empty flag", "", "", false},
		{"flag true", "true", "true", false},
		{"flag false", "false", "false", false},
		{"file bool", true, "true", false},
		{"flag patterns", "/api/*, !/api/public/*", `["/api/*","!/api/public/*"]`, false},
		{"file patterns", []any{"/api/*"}, `["/api/*"]`, false},
		{"relative pattern", "api/*", "", true},
		{"non-string in list", []any{1}, "", true},
		{"number", 3, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := runWorkerFirstJSON(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if string(got) != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestTOMLString(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		`plain`:     `"plain"`,
		`say "hi"`:  `"say \"hi\""`,
		`C:\sites`:  `"C:\\sites"`,
		"tab\there": `"tab\u0009here"`,
		"ünïcödé 🚀": `"ünïcödé 🚀"`,
	}
	for in, want := range tests {
		if got := tomlString(in); got != want {
			t.Errorf("tomlString(%q) = %s, want %s", in, got, want)
		}
	}
}
