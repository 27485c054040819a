// Command tosser is server code that tries to reach other projects' browser
// state: it sets a cookie for the whole base domain and for the whole host
// path, allows a service worker scope of "/", and asks browsers to clear
// cookies (the whole base domain's) and the origin's storage. It answers
// with the cookies it was sent, so a test can see what reached it.
// GET /redirect answers a 302 to /next.
package main

import (
	"fmt"
	"net/http"
	"net/http/cgi"
	"os"
)

func main() {
	err := cgi.Serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Add("Set-Cookie", "toss=1; Domain="+r.URL.Query().Get("domain")+"; Path=/")
		h.Add("Set-Cookie", "plain=2")
		h.Set("Service-Worker-Allowed", "/")
		h.Set("Clear-Site-Data", `"cookies", "storage"`)
		if r.URL.Path == "/redirect" {
			h.Set("Location", "/next")
			w.WriteHeader(http.StatusFound)
			return
		}
		h.Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "cookie: %s\n", r.Header.Get("Cookie"))
	}))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
