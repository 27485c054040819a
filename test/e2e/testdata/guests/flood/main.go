// Command flood is a hostile server-code guest for the e2e tests, built with
// GOOS=wasip1 GOARCH=wasm. It answers a CGI request by writing 1 GiB: to
// stdout by default (the response), to stderr with ?stderr (the log), and
// keeps writing whatever the host answers, as a careless or malicious guest
// would. With ?hello it answers a short page, to show the same module
// still works for the next request.
package main

import (
	"os"
	"strings"
)

func main() {
	q := os.Getenv("QUERY_STRING")
	if strings.Contains(q, "hello") {
		os.Stdout.WriteString("Content-Type: text/plain\r\n\r\nhello from flood\n")
		return
	}
	chunk := []byte(strings.Repeat("flood!\n", 1<<20/7+1))[:1<<20]
	target := os.Stdout
	os.Stdout.WriteString("Content-Type: text/plain\r\n\r\n")
	if strings.Contains(q, "stderr") {
		os.Stdout.WriteString("stderr flooded\n")
		target = os.Stderr
	}
	for range 1024 {
		target.Write(chunk) // errors ignored on purpose
	}
}
