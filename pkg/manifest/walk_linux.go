package manifest

import (
	"encoding/binary"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// openDirFast is the Linux directory reader: entries come straight from
// getdents64 into the walker's buffer (no allocation per entry) and files
// are stat'ed with fstatat relative to the open directory, which spares the
// kernel a lookup of every parent directory for every file.
func openDirFast(osPath string, noFollow bool, buf []byte) (dirHandle, error) {
	flags := unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC
	if noFollow {
		flags |= unix.O_NOFOLLOW
	}
	for {
		fd, err := unix.Open(osPath, flags, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", osPath, err)
		}
		return &linuxDir{fd: fd, buf: buf}, nil
	}
}

type linuxDir struct {
	fd  int
	buf []byte
}

// Offsets in a struct linux_dirent64: d_ino (8 bytes), d_off (8),
// d_reclen (2), d_type (1), then the NUL-terminated name.
const (
	direntReclen = 16
	direntType   = 18
	direntName   = 19
)

func (d *linuxDir) each(fn func(name []byte, kind entryKind) error) error {
	for {
		n, err := unix.Getdents(d.fd, d.buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("read directory: %w", err)
		}
		if n <= 0 {
			return nil
		}
		b := d.buf[:n]
		for len(b) >= direntName {
			reclen := int(binary.NativeEndian.Uint16(b[direntReclen:]))
			if reclen < direntName || reclen > len(b) {
				return fmt.Errorf("read directory: malformed entry")
			}
			ent := b[:reclen]
			b = b[reclen:]
			if binary.NativeEndian.Uint64(ent) == 0 { // inode 0: a deleted entry
				continue
			}
			name := ent[direntName:]
			for i, c := range name {
				if c == 0 {
					name = name[:i]
					break
				}
			}
			if len(name) == 0 || name[0] == '.' && (len(name) == 1 || len(name) == 2 && name[1] == '.') {
				continue
			}
			if err := fn(name, direntKind(ent[direntType])); err != nil {
				return err
			}
		}
	}
}

// direntKind maps a d_type to an entryKind.
func direntKind(t byte) entryKind {
	switch t {
	case unix.DT_REG:
		return kindFile
	case unix.DT_DIR:
		return kindDir
	case unix.DT_LNK:
		return kindSymlink
	case unix.DT_UNKNOWN:
		return kindUnknown
	}
	return kindOther
}

func (d *linuxDir) lstat(name, _ string) (entryInfo, error) {
	var st unix.Stat_t
	for {
		err := unix.Fstatat(d.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return entryInfo{}, err
		}
		break
	}
	var kind entryKind
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		kind = kindFile
	case unix.S_IFDIR:
		kind = kindDir
	case unix.S_IFLNK:
		kind = kindSymlink
	default:
		kind = kindOther
	}
	return entryInfo{kind: kind, size: st.Size, mtime: time.Unix(int64(st.Mtim.Sec), int64(st.Mtim.Nsec))}, nil
}

func (d *linuxDir) close() { unix.Close(d.fd) }
