//go:build unix && !linux

package pgtest

import "syscall"

// dieWithParent does nothing where the kernel cannot tie the server's life
// to the test process's: Main still stops it when the tests end normally.
func dieWithParent(*syscall.SysProcAttr) {}
