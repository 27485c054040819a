// Command go-hello is cfhost server code written as a plain net/http
// handler. cgi.Serve reads the request that cfhost passes in environment
// variables and stdin, and prints the response on stdout, so no SDK is
// needed. Build it for WASI preview 1:
//
//	GOOS=wasip1 GOARCH=wasm go build -o server.wasm ./examples/go-hello
package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/cgi"
	"os"
	"time"
)

func main() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "Hello from WebAssembly!")
	})
	mux.HandleFunc("GET /api/time", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{
			"now":      time.Now().UTC().Format(time.RFC3339),
			"greeting": os.Getenv("GREETING"), // set with: cfdeploy deploy --env GREETING=hi
		})
	})
	// Hand a request to the static assets, like env.ASSETS.fetch(request)
	// in a Cloudflare Worker: the host serves "/" from the assets exactly as
	// it would serve a browser (so "/" finds index.html, while asking for
	// "/index.html" would answer its canonical 307 to "/"), and adds the
	// headers set here.
	mux.HandleFunc("GET /home", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Accel-Redirect", "/")
		w.Header().Set("X-Served-By", "go-hello")
	})
	if err := cgi.Serve(mux); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
