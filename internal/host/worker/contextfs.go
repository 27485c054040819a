package worker

import (
	"context"
	"io/fs"
)

// ContextFS is a file system whose reads can be tied to a request. A
// Program's Assets and Modules that implement it are mounted, for each run,
// as WithContext(the request's context), so a guest's file reads stop with
// its request (client gone, deadline passed) instead of running on for a
// request nobody waits for.
type ContextFS interface {
	fs.FS
	WithContext(ctx context.Context) fs.FS
}

func withContext(fsys fs.FS, ctx context.Context) fs.FS {
	if c, ok := fsys.(ContextFS); ok {
		return c.WithContext(ctx)
	}
	return fsys
}
