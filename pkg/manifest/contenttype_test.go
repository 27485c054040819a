package manifest

import "testing"

func TestContentType(t *testing.T) {
	tests := map[string]string{
		"/index.html":        "text/html; charset=utf-8",
		"/a.HTM":             "text/html; charset=utf-8",
		"/s.css":             "text/css; charset=utf-8",
		"/app.js":            "text/javascript; charset=utf-8",
		"/m.mjs":             "text/javascript; charset=utf-8",
		"/d.json":            "application/json",
		"/a.js.map":          "application/json",
		"/i.svg":             "image/svg+xml",
		"/i.png":             "image/png",
		"/p.jpg":             "image/jpeg",
		"/favicon.ico":       "image/vnd.microsoft.icon",
		"/r.txt":             "text/plain; charset=utf-8",
		"/README.md":         "text/markdown; charset=utf-8",
		"/t.csv":             "text/csv; charset=utf-8",
		"/c.yaml":            "text/yaml; charset=utf-8",
		"/f.xml":             "application/xml",
		"/m.wasm":            "application/wasm",
		"/site.webmanifest":  "application/manifest+json",
		"/f.woff2":           "font/woff2",
		"/d.pdf":             "application/pdf",
		"/v.mp4":             "video/mp4",
		"/i.webp":            "image/webp",
		"/i.avif":            "image/avif",
		"/c.toml":            "application/toml",
		"/code.ts":           "video/mp2t",
		"/LICENSE":           "",
		"/.html":             "",
		"/dir.v2/file":       "",
		"/archive.unknownxx": "",
		"/trailing.":         "",
	}
	for p, want := range tests {
		if got := ContentType(p); got != want {
			t.Errorf("ContentType(%q) = %q, want %q", p, got, want)
		}
	}
}
