//go:build !linux

package manifest

// openRead is the os-based reader where no leaner one is written.
var openRead = openReadOS
