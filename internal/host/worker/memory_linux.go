package worker

import (
	"fmt"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// imagesSupported tells whether memory images can back linear memories.
const imagesSupported = true

// memImage is a module's initial memory contents in a sealed memfd, mapped
// copy-on-write at the start of every linear memory of that module.
type memImage struct {
	f    *os.File
	size uint64 // a multiple of the wasm page size
}

// newMemImage writes image to a memfd and seals it, so nothing can change
// the pages every instance starts from.
func newMemImage(image []byte) (*memImage, error) {
	fd, err := unix.MemfdCreate("cfhost-wasm-image", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	f := os.NewFile(uintptr(fd), "cfhost-wasm-image")
	if _, err := f.Write(image); err != nil {
		f.Close()
		return nil, fmt.Errorf("write memory image: %w", err)
	}
	seals := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if _, err := unix.FcntlInt(f.Fd(), unix.F_ADD_SEALS, seals); err != nil {
		f.Close()
		return nil, fmt.Errorf("seal memory image: %w", err)
	}
	return &memImage{f: f, size: uint64(len(image))}, nil
}

func (im *memImage) close() {
	if im != nil {
		im.f.Close()
	}
}

// region is address space reserved for one linear memory. Pages are only
// backed by RAM once the guest touches them; with an image, reads of its
// pages share the page cache and writes copy.
type region struct {
	mem       []byte // the whole reservation; nil if mmap failed
	imageSize uint64
}

func newRegion(limit uint64, image *memImage) region {
	if limit == 0 || (image != nil && image.size > limit) {
		return region{}
	}
	mem, err := syscall.Mmap(-1, 0, int(limit),
		syscall.PROT_READ|syscall.PROT_WRITE,
		syscall.MAP_PRIVATE|syscall.MAP_ANONYMOUS|syscall.MAP_NORESERVE)
	if err != nil {
		return region{}
	}
	if image != nil && image.size > 0 {
		_, err := unix.MmapPtr(int(image.f.Fd()), 0, unsafe.Pointer(&mem[0]), uintptr(image.size),
			unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_FIXED)
		if err != nil {
			_ = syscall.Munmap(mem)
			return region{}
		}
	}
	r := region{mem: mem}
	if image != nil {
		r.imageSize = image.size
	}
	return r
}

func (r region) ok() bool { return r.mem != nil }

// grow returns the first size bytes, or nil when they do not fit.
func (r region) grow(size uint64) []byte {
	if r.mem == nil || size > uint64(len(r.mem)) {
		return nil
	}
	return r.mem[:size:size]
}

// keepResident is how much of a memory beyond its image stays resident
// between requests, zeroed by the CPU: a typical Go guest touches a few
// MiB past its image, and zeroing those is cheaper than dropping them and
// taking ~250 page faults (and TLB shootdowns) to get them back on the next
// request. Anything past it is returned to the kernel.
const keepResident = 4 << 20

// reset makes the first used bytes read as at instantiation: the image's
// pages are dropped so they read as the image again, up to keepResident
// bytes after it are zeroed in place, and the rest is dropped to zero
// pages. It reports whether the region can be reused.
func (r region) reset(used uint64) bool {
	if r.mem == nil {
		return false
	}
	img := min(r.imageSize, used)
	if img > 0 && syscall.Madvise(r.mem[:img], syscall.MADV_DONTNEED) != nil {
		return false
	}
	keep := min(used, img+keepResident)
	clear(r.mem[img:keep])
	if keep < used && syscall.Madvise(r.mem[keep:used], syscall.MADV_DONTNEED) != nil {
		return false
	}
	return true
}

func (r region) release() {
	if r.mem != nil {
		_ = syscall.Munmap(r.mem)
	}
}
