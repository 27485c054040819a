//go:build !linux

package manifest

// openDirFast is the portable reader where no faster one is written.
var openDirFast = openDirPortable
