//go:build !linux

package assets

import (
	"errors"
	"os"
)

var errNoMemFiles = errors.New("in-memory files are not supported on this platform")

func createMemFile(string) (*os.File, error) { return nil, errNoMemFiles }

func sealMemFile(*os.File) error { return errNoMemFiles }

// fileLimit is zero: representations are held as byte slices.
func fileLimit() int64 { return 0 }
