//go:build !linux

package host

import "time"

// threadCPU is not available here: pacers charge wall time instead.
func threadCPU() (time.Duration, bool) { return 0, false }
