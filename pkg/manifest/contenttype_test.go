package manifest

import (
	"regexp"
	"strings"
	"testing"
)

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

// TestContentTypeMime4 checks ContentType against mime@4.1.2's getType. Each
// want is what node printed for mime.getType(path), with "; charset=utf-8"
// appended to text/ types as wrangler's uploader does.
func TestContentTypeMime4(t *testing.T) {
	tests := []struct {
		path string
		want string
	}{
		// Known to mime@4, missing from the old hand-written table.
		{"/v.mkv", "video/x-matroska"},
		{"/m.glb", "model/gltf-binary"},
		{"/m.gltf", "model/gltf+json"},
		{"/a.rar", "application/vnd.rar"},
		{"/s.sh", "application/x-sh"},
		{"/d.mpd", "application/dash+xml"},
		{"/l.jar", "application/java-archive"},
		{"/q.sql", "application/sql"},
		{"/c.json5", "application/json5"},
		{"/f.ttc", "font/collection"},
		{"/v.3gp", "video/3gpp"},
		{"/v.mts", "video/mp2t"},
		{"/a.xz", "application/x-xz"},
		{"/a.bz2", "application/x-bzip2"},
		{"/s.srt", "application/x-subrip"},
		{"/c.vcf", "text/x-vcard; charset=utf-8"},
		{"/p.psd", "image/vnd.adobe.photoshop"},
		{"/g.geojson", "application/geo+json"},
		// Types the old table invented; mime@4 has none.
		{"/a.tgz", ""},
		{"/a.js.br", ""},
		{"/a.br", ""},
		// Case-insensitive, as getType lower-cases with toLowerCase: the Kelvin sign
		// folds to "k", but "\u0130" becomes "i\u0307", not "i".
		{"/V.MKV", "video/x-matroska"},
		{"/m.GlTf", "model/gltf+json"},
		{"/c.JSON5", "application/json5"},
		{"/INDEX.HTML", "text/html; charset=utf-8"},
		{"/k.\u212Aml", "application/vnd.google-earth.kml+xml"},
		{"/i.\u0130co", ""},
		{"/i.ico", "image/vnd.microsoft.icon"},
		{"/e.\u00E9", ""},
		// No extension.
		{"/LICENSE", ""},
		{"/Makefile", ""},
		{"/docs/README", ""},
		{"/dir.v2/file", ""},
		{"/trailing.", ""},
		{"/.", ""},
		{"/..", ""},
		{"/a/.", ""},
		// Dotfiles: a leading dot alone is not an extension.
		{"/.htaccess", ""},
		{"/.html", ""},
		{"/.env", ""},
		{"/sub/.gitignore", ""},
		{"/.well-known/security.txt", "text/plain; charset=utf-8"},
		{"/..html", "text/html; charset=utf-8"},
		{"/.config.json", "application/json"},
		// Several dots: the last one counts.
		{"/a.tar.gz", "application/gzip"},
		{"/app.min.js", "text/javascript; charset=utf-8"},
		{"/a.b.c.unknownxx", ""},
		{"/font.woff2.map", "application/json"},
		// Directories, with "/" or "\" as the separator.
		{"/assets/img/logo.svg", "image/svg+xml"},
		{"/a.b/c.json", "application/json"},
		{"/deep/er/path/v.webm", "video/webm"},
		{"/dir\\s.css", "text/css; charset=utf-8"},
		{"/a/b\\c.png", "image/png"},
		// Extensions some other type lists with a "*" (js, xml, wav, mp3, exe, rtf,
		// m4a, aac, mp4, deb, dmg, iso, obj, stl) and other common ones.
		{"/x.js", "text/javascript; charset=utf-8"},
		{"/x.cjs", "application/node"},
		{"/x.jsx", "text/jsx; charset=utf-8"},
		{"/x.ts", "video/mp2t"},
		{"/x.xml", "application/xml"},
		{"/x.wav", "audio/wav"},
		{"/x.mp3", "audio/mpeg"},
		{"/x.exe", "application/octet-stream"},
		{"/x.rtf", "application/rtf"},
		{"/x.m4a", "audio/mp4"},
		{"/x.aac", "audio/aac"},
		{"/x.mp4", "video/mp4"},
		{"/x.flac", "audio/x-flac"},
		{"/x.opus", "audio/ogg"},
		{"/x.apng", "image/apng"},
		{"/x.jxl", "image/jxl"},
		{"/x.wgsl", "text/wgsl; charset=utf-8"},
		{"/x.yaml", "text/yaml; charset=utf-8"},
		{"/x.md", "text/markdown; charset=utf-8"},
		{"/x.ics", "text/calendar; charset=utf-8"},
		{"/x.vtt", "text/vtt; charset=utf-8"},
		{"/x.webmanifest", "application/manifest+json"},
		{"/x.zip", "application/zip"},
		{"/x.gz", "application/gzip"},
		{"/x.7z", "application/x-7z-compressed"},
		{"/x.deb", "application/octet-stream"},
		{"/x.dmg", "application/octet-stream"},
		{"/x.iso", "application/octet-stream"},
		{"/x.obj", "model/obj"},
		{"/x.stl", "model/stl"},
		{"/x.usdz", "model/vnd.usdz+zip"},
		{"/x.wasm", "application/wasm"},
		{"/x.mjs", "text/javascript; charset=utf-8"},
		{"/x.map", "application/json"},
		{"/x.txt", "text/plain; charset=utf-8"},
		{"/x.csv", "text/csv; charset=utf-8"},
		{"/x.facti", "image/vnd.blockfact.facti"},
		{"/x.123", "application/vnd.lotus-1-2-3"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			if got := ContentType(tt.path); got != tt.want {
				t.Errorf("ContentType(%q) = %q, want %q", tt.path, got, tt.want)
			}
		})
	}
}

// TestContentTypeBareName checks that a path without a "/" is looked up like
// the absolute path wrangler passes to getType, so a bare "html" or ".html"
// has no extension (getType("html") alone would say text/html).
func TestContentTypeBareName(t *testing.T) {
	for name, want := range map[string]string{
		"index.html": "text/html; charset=utf-8",
		"html":       "",
		".html":      "",
		"LICENSE":    "",
	} {
		if got := ContentType(name); got != want {
			t.Errorf("ContentType(%q) = %q, want %q", name, got, want)
		}
	}
}

// TestContentTypeTable checks the generated table's shape: ContentType's case
// folding assumes lower-case ASCII keys, and its charset rule bare types.
func TestContentTypeTable(t *testing.T) {
	// mime@4.1.2 getType knows 1240 extensions; fewer means a truncated table.
	if len(contentTypes) != 1240 {
		t.Errorf("len(contentTypes) = %d, want 1240 (mime@4.1.2)", len(contentTypes))
	}
	key := regexp.MustCompile(`^[a-z0-9][a-z0-9_.+-]*$`)
	for ext, typ := range contentTypes {
		if !key.MatchString(ext) {
			t.Errorf("key %q is not a lower-case ASCII extension", ext)
		}
		if typ != strings.ToLower(typ) || strings.ContainsAny(typ, "; ") || strings.Count(typ, "/") != 1 {
			t.Errorf("contentTypes[%q] = %q, want a bare lower-case type/subtype", ext, typ)
		}
	}
}
