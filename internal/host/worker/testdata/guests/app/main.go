// Command app is the test guest of package worker: a net/http handler
// served with cgi.Serve, plus "raw" routes that misbehave on purpose before
// cgi.Serve runs (loops, crashes, bad output). Build it with
// GOOS=wasip1 GOARCH=wasm.
package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/cgi"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

func main() {
	if raw(os.Getenv("PATH_INFO")) {
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/echo", echo)
	mux.HandleFunc("/env", dumpEnv)
	mux.HandleFunc("/read/", readFile)
	mux.Handle("/static/", http.StripPrefix("/static/", http.FileServer(http.Dir("/assets"))))
	mux.HandleFunc("/cookies", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "a", Value: "1"})
		http.SetCookie(w, &http.Cookie{Name: "b", Value: "2"})
		fmt.Fprintln(w, "two cookies")
	})
	mux.HandleFunc("/accel", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Accel-Redirect", r.URL.Query().Get("to"))
		w.Header().Set("X-From-Guest", "yes")
		w.Header().Set("Content-Type", "text/guest")
		w.WriteHeader(http.StatusTeapot)
		fmt.Fprint(w, "this body is replaced by the asset")
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/elsewhere", http.StatusMovedPermanently)
	})
	mux.HandleFunc("/write", func(w http.ResponseWriter, r *http.Request) {
		err := os.WriteFile("/assets/new.txt", []byte("x"), 0o644)
		fmt.Fprintf(w, "write error: %v", err != nil)
	})
	mux.HandleFunc("/entropy", func(w http.ResponseWriter, r *http.Request) {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		start := time.Now()
		time.Sleep(20 * time.Millisecond)
		fmt.Fprintf(w, "%s %d %d", hex.EncodeToString(b), time.Now().Unix(), time.Since(start).Milliseconds())
	})
	if err := cgi.Serve(mux); err != nil {
		fmt.Fprintln(os.Stderr, "cgi:", err)
		os.Exit(1)
	}
}

func echo(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	fmt.Fprintf(w, "method=%s\n", r.Method)
	fmt.Fprintf(w, "url=%s\n", r.URL.String())
	fmt.Fprintf(w, "host=%s\n", r.Host)
	fmt.Fprintf(w, "remote=%s\n", r.RemoteAddr)
	fmt.Fprintf(w, "tls=%v\n", r.TLS != nil)
	fmt.Fprintf(w, "x-test=%s\n", r.Header.Get("X-Test"))
	fmt.Fprintf(w, "content-type=%s\n", r.Header.Get("Content-Type"))
	fmt.Fprintf(w, "length=%d\n", r.ContentLength)
	fmt.Fprintf(w, "body=%s", body)
}

func dumpEnv(w http.ResponseWriter, r *http.Request) {
	env := os.Environ()
	sort.Strings(env)
	w.Header().Set("Content-Type", "text/plain")
	fmt.Fprintln(w, strings.Join(env, "\n"))
}

// readFile serves /read/assets/x or /read/modules/x with os.ReadFile.
func readFile(w http.ResponseWriter, r *http.Request) {
	b, err := os.ReadFile(strings.TrimPrefix(r.URL.Path, "/read"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Write(b)
}

var sink [][]byte

// initialized lives in the data segments, scratch in zeroed memory. The
// /raw/state route prints both and then overwrites them: a later request
// must still see the originals.
var (
	initialized = [8]byte{'o', 'r', 'i', 'g', 'i', 'n', 'a', 'l'}
	scratch     [8]byte
)

// raw handles the routes that bypass net/http, and reports whether it did.
func raw(path string) bool {
	switch {
	case path == "/raw/local-redirect":
		os.Stdout.WriteString("Location: /static.txt?v=1\r\nX-Extra: kept\r\nSet-Cookie: s=1\r\n\r\nignored body")
	case path == "/raw/state":
		fmt.Printf("Content-Type: text/plain\r\n\r\n%s %x", initialized[:], scratch[:])
		copy(initialized[:], "mutated!")
		copy(scratch[:], "secret!!")
	case path == "/raw/client-redirect":
		os.Stdout.WriteString("Location: https://example.test/x\r\n\r\n")
	case path == "/raw/malformed":
		os.Stdout.WriteString("this is not a header\r\n\r\nbody")
	case path == "/raw/no-blank-line":
		os.Stdout.WriteString("Content-Type: text/plain\r\n")
	case path == "/raw/lf":
		os.Stdout.WriteString("Content-Type: text/plain\nX-Mixed: 1\r\n\nbody with LF")
	case path == "/raw/huge":
		chunk := []byte(strings.Repeat("x", 64<<10))
		os.Stdout.WriteString("Content-Type: text/plain\r\n\r\n")
		for range 1 << 14 { // 1 GiB, far over any cap
			if _, err := os.Stdout.Write(chunk); err != nil {
				fmt.Fprintln(os.Stderr, "stdout:", err)
				os.Exit(3)
			}
		}
	case path == "/raw/loop":
		for i := 0; ; i++ {
			if i < 0 {
				break
			}
		}
	case strings.HasPrefix(path, "/raw/hog/"):
		mib, _ := strconv.Atoi(strings.TrimPrefix(path, "/raw/hog/"))
		for range mib {
			b := make([]byte, 1<<20)
			for i := 0; i < len(b); i += 4096 { // make every page real
				b[i] = byte(i >> 12)
			}
			sink = append(sink, b)
		}
		fmt.Printf("Content-Type: text/plain\r\n\r\nallocated %d MiB", mib)
	case path == "/raw/panic":
		fmt.Fprintln(os.Stderr, "about to panic")
		panic("guest panic on purpose")
	case path == "/raw/exit3":
		fmt.Print("Content-Type: text/plain\r\n\r\nhalf")
		os.Exit(3)
	case path == "/raw/stderr":
		os.Stderr.WriteString(strings.Repeat("e", 200<<10))
		os.Stdout.WriteString("Content-Type: text/plain\r\n\r\nok")
	default:
		return false
	}
	return true
}
