// Command env answers every request with its environment, one KEY=VALUE a
// line, sorted: what a script needs to see the variables and secrets that
// reach server code. It imports no more than os, slices and strings, so it
// compiles to a third of a net/http guest's size, which a script deploys
// several times under the race detector.
package main

import (
	"os"
	"slices"
	"strings"
)

func main() {
	env := os.Environ()
	slices.Sort(env)
	os.Stdout.WriteString("Content-Type: text/plain\r\n\r\n" + strings.Join(env, "\n") + "\n")
}
