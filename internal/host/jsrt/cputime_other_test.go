//go:build !unix

package jsrt

// processCPU is unknown here: no cpu-us/op is reported.
func processCPU() int64 { return 0 }
