package worker

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// ServerSoftware is the SERVER_SOFTWARE value guests see.
const ServerSoftware = "cfhost/1"

// Guest paths of the read-only mounts, also given to guests as
// CFHOST_ASSETS_DIR and CFHOST_MODULES_DIR so they need not hard-code them.
const (
	AssetsDir  = "/assets"
	ModulesDir = "/modules"
)

// cgiNames are the meta-variables the host sets itself; a project variable
// may not shadow one of them.
var cgiNames = map[string]bool{
	"GATEWAY_INTERFACE": true, "SERVER_SOFTWARE": true, "SERVER_PROTOCOL": true,
	"SERVER_NAME": true, "SERVER_PORT": true, "REQUEST_METHOD": true, "REQUEST_URI": true,
	"SCRIPT_NAME": true, "PATH_INFO": true, "PATH_TRANSLATED": true, "QUERY_STRING": true,
	"CONTENT_LENGTH": true, "CONTENT_TYPE": true, "REMOTE_ADDR": true, "REMOTE_HOST": true,
	"REMOTE_PORT": true, "AUTH_TYPE": true, "REMOTE_USER": true, "HTTPS": true,
}

// skippedRequestHeaders never become HTTP_* variables: hop-by-hop headers,
// Proxy (so that HTTP_PROXY is never produced: httpoxy), Host (already
// HTTP_HOST), and Content-Type / Content-Length, which RFC 3875 §4.1.18 says
// to leave to CONTENT_TYPE and CONTENT_LENGTH (the latter is the length of
// the buffered body, which may differ from what the client announced).
var skippedRequestHeaders = map[string]bool{
	"Connection": true, "Keep-Alive": true, "Proxy-Connection": true, "Te": true,
	"Trailer": true, "Transfer-Encoding": true, "Upgrade": true, "Proxy": true,
	"Host": true, "Content-Type": true, "Content-Length": true,
}

// ValidateEnvName reports why name cannot be a project environment variable,
// or nil. Names must match [A-Z][A-Z0-9_]*, must not start with HTTP_, X_ or
// CFHOST_ (request headers, WAGI extensions and platform bindings) and must
// not be a CGI meta-variable, so a project can never forge request data.
func ValidateEnvName(name string) error {
	if name == "" {
		return fmt.Errorf("env name is empty")
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if (c >= 'A' && c <= 'Z') || (i > 0 && ((c >= '0' && c <= '9') || c == '_')) {
			continue
		}
		return fmt.Errorf("env name %q must match [A-Z][A-Z0-9_]*", name)
	}
	for _, p := range []string{"HTTP_", "X_", "CFHOST_"} {
		if strings.HasPrefix(name, p) {
			return fmt.Errorf("env name %q must not start with %s (reserved)", name, p)
		}
	}
	if cgiNames[name] {
		return fmt.Errorf("env name %q is a CGI variable set by the host", name)
	}
	return nil
}

// ValidateEnv checks a project's environment at deploy time: every name must
// pass ValidateEnvName and no value may hold a NUL byte, which cannot be
// passed through WASI.
func ValidateEnv(env map[string]string) error {
	names := make([]string, 0, len(env))
	for k := range env {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		if err := ValidateEnvName(k); err != nil {
			return err
		}
		if strings.IndexByte(env[k], 0) >= 0 {
			return fmt.Errorf("env %s: value contains a NUL byte", k)
		}
	}
	return nil
}

// envVar is one name=value pair, kept in order.
type envVar struct{ name, value string }

// buildEnv returns the CGI environment (docs/server-code.md#environment) for
// one request, in this order: the fixed variables, then the conditional ones,
// then request headers sorted by name, then the project's variables sorted by
// name. Invalid project variables are skipped (they are refused at deploy
// time; this is defence in depth).
func buildEnv(r *http.Request, req *Request, contentLength int, p *Program) []envVar {
	host := req.Host
	serverName, serverPort := splitHostPort(host)
	if serverPort == "" {
		serverPort = "80"
		if req.Scheme == "https" {
			serverPort = "443"
		}
	}
	pathInfo, err := url.PathUnescape(req.RawPath)
	if err != nil {
		pathInfo = req.RawPath
	}
	requestURI := req.RawPath
	if req.RawQuery != "" {
		requestURI += "?" + req.RawQuery
	}
	remoteAddr, remotePort := splitHostPort(req.RemoteAddr)
	remoteAddr = strings.TrimSuffix(strings.TrimPrefix(remoteAddr, "["), "]")
	proto := "HTTP/1.1"
	if r.ProtoMajor >= 1 {
		proto = fmt.Sprintf("HTTP/%d.%d", r.ProtoMajor, r.ProtoMinor)
	}

	env := make([]envVar, 0, 32+len(r.Header)+len(p.Env))
	env = append(env,
		envVar{"GATEWAY_INTERFACE", "CGI/1.1"},
		envVar{"SERVER_SOFTWARE", ServerSoftware},
		envVar{"SERVER_PROTOCOL", proto},
		envVar{"SERVER_NAME", serverName},
		envVar{"SERVER_PORT", serverPort},
		envVar{"REQUEST_METHOD", r.Method},
		envVar{"REQUEST_URI", requestURI},
		envVar{"SCRIPT_NAME", ""},
		envVar{"PATH_INFO", pathInfo},
		envVar{"X_RAW_PATH_INFO", req.RawPath},
		envVar{"PATH_TRANSLATED", pathInfo},
		envVar{"QUERY_STRING", req.RawQuery},
		envVar{"CONTENT_LENGTH", strconv.Itoa(contentLength)},
		envVar{"REMOTE_ADDR", remoteAddr},
		envVar{"REMOTE_HOST", remoteAddr},
		envVar{"REMOTE_PORT", remotePort},
		envVar{"X_FULL_URL", req.Scheme + "://" + host + requestURI},
		envVar{"X_MATCHED_ROUTE", "/..."},
		envVar{"HTTP_HOST", host},
		envVar{"AUTH_TYPE", ""},
		envVar{"REMOTE_USER", ""},
	)
	if ct := r.Header.Get("Content-Type"); ct != "" && validEnvValue(ct) {
		env = append(env, envVar{"CONTENT_TYPE", ct})
	}
	if req.Scheme == "https" {
		env = append(env, envVar{"HTTPS", "on"})
	}

	names := make([]string, 0, len(r.Header))
	for k := range r.Header {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		ck := http.CanonicalHeaderKey(k)
		if skippedRequestHeaders[ck] || strings.IndexByte(k, '_') >= 0 || !validHeaderName(k) {
			continue
		}
		sep := ", "
		if ck == "Cookie" {
			sep = "; "
		}
		v := strings.Join(r.Header[k], sep)
		if !validEnvValue(v) {
			continue
		}
		env = append(env, envVar{"HTTP_" + strings.ToUpper(strings.ReplaceAll(k, "-", "_")), v})
	}

	return appendProjectEnv(env, p)
}

// appendProjectEnv appends what a program's guests see of the project: the
// mount variables and the project's variables sorted by name. A guest-mode
// instance gets only these in its environment (the request's variables
// travel with each request).
func appendProjectEnv(env []envVar, p *Program) []envVar {
	if p.Assets != nil {
		env = append(env, envVar{"CFHOST_ASSETS_DIR", AssetsDir})
	}
	if p.Modules != nil {
		env = append(env, envVar{"CFHOST_MODULES_DIR", ModulesDir})
	}
	names := make([]string, 0, len(p.Env))
	for k := range p.Env {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		if ValidateEnvName(k) != nil || !validEnvValue(p.Env[k]) {
			continue
		}
		env = append(env, envVar{k, p.Env[k]})
	}
	return env
}

// validEnvValue refuses NUL, which WASI environ cannot carry.
func validEnvValue(v string) bool { return strings.IndexByte(v, 0) < 0 }

// splitHostPort splits "host:port", "[v6]:port", "host" or "[v6]" without
// failing: a missing port is returned empty.
func splitHostPort(hp string) (host, port string) {
	if h, p, err := net.SplitHostPort(hp); err == nil {
		if strings.IndexByte(h, ':') >= 0 {
			h = "[" + h + "]"
		}
		return h, p
	}
	return hp, ""
}
