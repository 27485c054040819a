package assets

import (
	"os"

	"golang.org/x/sys/unix"
)

// createFile makes an unnamed file for a representation: in dir when it is
// set and can hold one, else in memory. An unnamed file in a directory
// (O_TMPFILE) is never visible there and its blocks are freed with its
// last descriptor, even when the process dies.
func createFile(dir string) (f *os.File, inMemory bool, err error) {
	if dir != "" {
		if f, err := openUnnamed(dir); err == nil {
			return f, false, nil
		}
	}
	fd, err := unix.MemfdCreate("cfhost-asset", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, false, err
	}
	return os.NewFile(uintptr(fd), "cfhost-asset"), true, nil
}

// roomFor reports whether dir's filesystem keeps at least reserve bytes,
// and a twentieth of its size, free after n more.
func roomFor(dir string, n, reserve int64) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return false
	}
	free := int64(st.Bavail) * int64(st.Bsize)
	total := int64(st.Blocks) * int64(st.Bsize)
	return free-n >= max(reserve, total/20)
}

// openUnnamed opens a new unnamed file in dir for reading and writing.
func openUnnamed(dir string) (*os.File, error) {
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, &os.PathError{Op: "open unnamed file in", Path: dir, Err: err}
	}
	return os.NewFile(uintptr(fd), dir), nil
}

// sealMemFile makes f's bytes immutable for good: a cached representation
// is content-addressed and must never change.
func sealMemFile(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		_, serr = unix.FcntlInt(fd, unix.F_ADD_SEALS, unix.F_SEAL_SEAL|unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_WRITE)
	})
	if err != nil {
		return err
	}
	return serr
}

// fileLimit is how many files a cache may keep open: a quarter of the
// process's descriptor limit, at most maxFiles.
func fileLimit() int64 {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return 0
	}
	return int64(min(rl.Cur/4, maxFiles))
}
