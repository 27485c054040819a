package worker

import (
	"context"
	"errors"
	"testing"

	cfapi "github.com/cfdeploy/cfdeploy/pkg/api"
)

// TestPrepareRefusesHugeCounts deploys modules of a few bytes whose type,
// global, element or data section claims 2^32-3 entries. wazero allocates
// for the claimed count before reading an entry, and for globals that is
// tens of GiB: the allocation fails and takes the whole host down. Prepare
// must answer a clear invalid-module error instead.
func TestPrepareRefusesHugeCounts(t *testing.T) {
	t.Parallel()
	rt, _ := newRuntime(t, Config{})
	for _, id := range []byte{1, 6, 9, 11} {
		// 2^32-3 entries: the rewrite appending its own stays below 2^32.
		m := append([]byte("\x00asm\x01\x00\x00\x00"), id, 6, 0xfd, 0xff, 0xff, 0xff, 0x0f, 0)
		err := rt.Prepare(context.Background(), Hash(m), m)
		var ae *cfapi.Error
		if !errors.As(err, &ae) || ae.Code != cfapi.CodeInvalid {
			t.Fatalf("section %d: got %v, want an invalid-module error", id, err)
		}
	}
}
