// Command slow is a server-code guest for the e2e tests, built with
// GOOS=wasip1 GOARCH=wasm. It reads its whole request body, sleeps for the
// number of milliseconds given as ?ms=N (none without it) and answers with
// the size of the body it read, so tests can hold execution slots for as
// long as they like and see what reached the guest.
package main

import (
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"time"
)

func main() {
	n, _ := io.Copy(io.Discard, os.Stdin)
	q, _ := url.ParseQuery(os.Getenv("QUERY_STRING"))
	if ms, err := strconv.Atoi(q.Get("ms")); err == nil && ms > 0 {
		time.Sleep(time.Duration(ms) * time.Millisecond)
	}
	fmt.Printf("Content-Type: text/plain\r\n\r\nslow read %d bytes\n", n)
}
