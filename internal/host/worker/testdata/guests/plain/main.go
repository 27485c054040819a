// Command plain is a guest without net/http: it answers from os.Getenv and
// stdin only, the smallest and fastest kind of Go guest. It sleeps when
// asked (/sleep: 300 ms, or ?ms=N), so tests can hold an execution slot.
package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

func main() {
	body, _ := io.ReadAll(os.Stdin)
	if os.Getenv("PATH_INFO") == "/sleep" {
		ms := 300
		if n, err := strconv.Atoi(strings.TrimPrefix(os.Getenv("QUERY_STRING"), "ms=")); err == nil {
			ms = n
		}
		time.Sleep(time.Duration(ms) * time.Millisecond)
	}
	fmt.Printf("Content-Type: text/plain\r\n\r\nplain %s %s %s", os.Getenv("REQUEST_METHOD"), os.Getenv("PATH_INFO"), body)
}
