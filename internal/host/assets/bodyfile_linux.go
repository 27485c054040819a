package assets

import (
	"os"

	"golang.org/x/sys/unix"
)

// createMemFile makes an anonymous file that lives in memory only.
func createMemFile(name string) (*os.File, error) {
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), name), nil
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

// fileLimit is how many in-memory files a cache may keep open: a
// quarter of the process's descriptor limit, at most maxMemFiles.
func fileLimit() int64 {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return 0
	}
	return int64(min(rl.Cur/4, maxMemFiles))
}
