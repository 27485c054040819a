// Command reactor builds, with -buildmode=c-shared, a WASI reactor: it
// exports _initialize and a function but no _start, which the host refuses.
package main

//go:wasmexport add
func add(a, b int32) int32 { return a + b }

func main() {}
