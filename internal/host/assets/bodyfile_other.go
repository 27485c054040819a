//go:build !linux

package assets

import (
	"errors"
	"fmt"
	"os"
)

var errNoFiles = fmt.Errorf("unnamed files for cached bodies: %w", errors.ErrUnsupported)

func createFile(string) (*os.File, bool, error) { return nil, false, errNoFiles }

func openUnnamed(string) (*os.File, error) { return nil, errNoFiles }

func roomFor(string, int64, int64) bool { return false }

func sealMemFile(*os.File) error { return errNoFiles }

// fileLimit is zero: representations are held as byte slices.
func fileLimit() int64 { return 0 }
