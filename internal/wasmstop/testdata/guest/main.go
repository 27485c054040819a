// Command guest is a WASI program for the wasmstop tests: it prints what it
// computed, or, given "spin", loops forever without calling the host.
package main

import (
	"fmt"
	"os"
	"sort"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "spin" {
		n := 0
		for {
			n = n*7 + 1
		}
	}
	xs := make([]int, 100000)
	for i := range xs {
		xs[i] = (i * 7919) % 100003
	}
	sort.Ints(xs)
	fmt.Printf("sorted %d %d %d\n", xs[0], xs[len(xs)/2], xs[len(xs)-1])
}
