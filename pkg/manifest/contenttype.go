package manifest

import "strings"

// contentTypes maps a lower-case file extension to the media type Cloudflare's
// uploader would record for it (the `mime` package's getType, spec §6). Text
// types get "; charset=utf-8" appended by ContentType, so they are listed bare.
var contentTypes = map[string]string{
	// Documents and code.
	"html":        "text/html",
	"htm":         "text/html",
	"shtml":       "text/html",
	"xhtml":       "application/xhtml+xml",
	"css":         "text/css",
	"js":          "text/javascript",
	"mjs":         "text/javascript",
	"cjs":         "application/node",
	"jsx":         "text/jsx",
	"json":        "application/json",
	"map":         "application/json",
	"jsonld":      "application/ld+json",
	"webmanifest": "application/manifest+json",
	"xml":         "application/xml",
	"xsl":         "application/xml",
	"xsd":         "application/xml",
	"rss":         "application/rss+xml",
	"atom":        "application/atom+xml",
	"txt":         "text/plain",
	"text":        "text/plain",
	"conf":        "text/plain",
	"log":         "text/plain",
	"ini":         "text/plain",
	"md":          "text/markdown",
	"markdown":    "text/markdown",
	"csv":         "text/csv",
	"tsv":         "text/tab-separated-values",
	"yaml":        "text/yaml",
	"yml":         "text/yaml",
	"toml":        "application/toml",
	"ics":         "text/calendar",
	"vtt":         "text/vtt",
	"appcache":    "text/cache-manifest",
	"manifest":    "text/cache-manifest",
	"wasm":        "application/wasm",
	"pdf":         "application/pdf",
	"rtf":         "application/rtf",
	"wgsl":        "text/wgsl",

	// Images.
	"png":  "image/png",
	"apng": "image/apng",
	"jpg":  "image/jpeg",
	"jpeg": "image/jpeg",
	"jpe":  "image/jpeg",
	"gif":  "image/gif",
	"webp": "image/webp",
	"avif": "image/avif",
	"svg":  "image/svg+xml",
	"svgz": "image/svg+xml",
	"ico":  "image/vnd.microsoft.icon",
	"bmp":  "image/bmp",
	"tif":  "image/tiff",
	"tiff": "image/tiff",
	"heic": "image/heic",
	"heif": "image/heif",
	"jxl":  "image/jxl",

	// Fonts.
	"woff":  "font/woff",
	"woff2": "font/woff2",
	"ttf":   "font/ttf",
	"otf":   "font/otf",
	"eot":   "application/vnd.ms-fontobject",

	// Audio and video. "ts" is MPEG transport stream, not TypeScript, as
	// upstream: a TypeScript file deployed as an asset gets video/mp2t.
	"mp4":  "video/mp4",
	"m4v":  "video/x-m4v",
	"webm": "video/webm",
	"ogv":  "video/ogg",
	"mov":  "video/quicktime",
	"avi":  "video/x-msvideo",
	"mpeg": "video/mpeg",
	"mpg":  "video/mpeg",
	"ts":   "video/mp2t",
	"m3u8": "application/vnd.apple.mpegurl",
	"mp3":  "audio/mpeg",
	"m4a":  "audio/mp4",
	"aac":  "audio/aac",
	"oga":  "audio/ogg",
	"ogg":  "audio/ogg",
	"opus": "audio/ogg",
	"wav":  "audio/wav",
	"flac": "audio/x-flac",
	"weba": "audio/webm",
	"mid":  "audio/midi",
	"midi": "audio/midi",

	// Archives and binaries.
	"zip":  "application/zip",
	"gz":   "application/gzip",
	"tgz":  "application/gzip",
	"br":   "application/x-brotli",
	"tar":  "application/x-tar",
	"7z":   "application/x-7z-compressed",
	"bin":  "application/octet-stream",
	"exe":  "application/octet-stream",
	"dll":  "application/octet-stream",
	"dmg":  "application/octet-stream",
	"iso":  "application/octet-stream",
	"apk":  "application/vnd.android.package-archive",
	"swf":  "application/x-shockwave-flash",
	"epub": "application/epub+zip",
	"doc":  "application/msword",
	"docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
	"xls":  "application/vnd.ms-excel",
	"xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
	"ppt":  "application/vnd.ms-powerpoint",
	"pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}

// ContentType returns the Content-Type header value Cloudflare would serve an
// asset path with, or "" when it would send none (unknown or missing
// extension). It decides once, at deploy time, so serving never guesses and
// never sniffs. Text types carry "; charset=utf-8" as upstream appends it.
//
// The extension is what follows the last "." of the last path segment,
// compared case-insensitively; a segment whose only dot is its first
// character (".html", a dotfile) has no extension, as in the mime package.
func ContentType(path string) string {
	name := path
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	dot := strings.LastIndexByte(name, '.')
	if dot <= 0 || dot == len(name)-1 {
		return ""
	}
	ext := name[dot+1:]
	t, ok := contentTypes[ext]
	if !ok {
		t, ok = contentTypes[strings.ToLower(ext)]
		if !ok {
			return ""
		}
	}
	if strings.HasPrefix(t, "text/") {
		return t + "; charset=utf-8"
	}
	return t
}
