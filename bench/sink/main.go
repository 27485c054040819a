// Command sink is the baseline upload target of bench/deploy.sh: a plain Go
// HTTP server that writes each request body to a file and fsyncs it, which is
// the least any host must do to receive the same bytes.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
)

func main() {
	addr := flag.String("listen", "127.0.0.1:0", "address")
	dir := flag.String("dir", os.TempDir(), "where bodies are written")
	flag.Parse()
	var n atomic.Int64
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		f, err := os.Create(filepath.Join(*dir, fmt.Sprintf("body-%d", n.Add(1))))
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		defer f.Close()
		if _, err := io.Copy(f, r.Body); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		if err := f.Sync(); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	log.Fatal(http.ListenAndServe(*addr, nil))
}
