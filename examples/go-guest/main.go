// Command go-guest is go-hello in guest mode: the same net/http handler,
// served by pkg/guest from one long-lived instance instead of a fresh CGI
// run per request, so Go's runtime starts once, not for every request.
// Build it as a WASI reactor:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o server.wasm ./examples/go-guest
package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/cfdeploy/cfdeploy/pkg/guest"
)

func init() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "Hello from WebAssembly!")
	})
	mux.HandleFunc("GET /api/time", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{
			"now":      time.Now().UTC().Format(time.RFC3339),
			"greeting": os.Getenv("GREETING"),
		})
	})
	mux.HandleFunc("GET /home", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Accel-Redirect", "/")
		w.Header().Set("X-Served-By", "go-guest")
	})
	// Registered in init: a guest-mode module runs its init functions when
	// the host starts an instance, and never runs main.
	guest.Serve(mux)
}

func main() {}
