// Command counter is a guest-mode reactor (pkg/guest) whose package state
// shows whether requests share an instance: "/" answers how many requests
// this instance has served. "/panic" panics, "/loop" never returns, "/echo"
// echoes the method, body and GREETING, "/asset" hands off to an asset.
package main

import (
	"fmt"
	"io"
	"net/http"
	"os"

	"github.com/cfdeploy/cfdeploy/pkg/guest"
)

var served int

func init() {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		served++
		fmt.Fprintf(w, "count=%d\n", served)
	})
	mux.HandleFunc("/panic", func(w http.ResponseWriter, r *http.Request) {
		panic("asked to")
	})
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) {
		for {
			served++
		}
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Method", r.Method)
		w.Header().Set("X-Greeting", os.Getenv("GREETING"))
		w.Header().Set("X-Query", r.URL.RawQuery)
		w.Header().Set("X-Header", r.Header.Get("X-Test"))
		w.WriteHeader(http.StatusCreated)
		w.Write(b)
	})
	mux.HandleFunc("/asset", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Accel-Redirect", "/static.txt")
	})
	guest.Serve(mux)
}

func main() {}
