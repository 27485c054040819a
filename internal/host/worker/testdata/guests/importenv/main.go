// Command importenv imports a function from a module named "env", which
// the host does not provide and must refuse at deploy time.
package main

//go:wasmimport env host_fetch
func hostFetch(p int32) int32

func main() { println(hostFetch(1)) }
