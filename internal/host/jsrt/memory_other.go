//go:build !linux

package jsrt

import "github.com/tetratelabs/wazero/experimental"

const mmapSupported = false

func newMapped(_, _ uint64) experimental.LinearMemory { return nil }
