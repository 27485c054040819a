// Command plain is a guest without net/http: it answers from os.Getenv and
// stdin only, the smallest and fastest kind of Go guest. It sleeps when
// asked, so tests can hold an execution slot.
package main

import (
	"fmt"
	"io"
	"os"
	"time"
)

func main() {
	body, _ := io.ReadAll(os.Stdin)
	if os.Getenv("PATH_INFO") == "/sleep" {
		time.Sleep(300 * time.Millisecond)
	}
	fmt.Printf("Content-Type: text/plain\r\n\r\nplain %s %s %s", os.Getenv("REQUEST_METHOD"), os.Getenv("PATH_INFO"), body)
}
