//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package log

import (
	"os"
	"syscall"
)

// mapFile maps size bytes of f into memory, read-only; nil when it cannot (an empty file, a
// size beyond the address space, a file system that does not map).
func mapFile(f *os.File, size int64) (data []byte, unmap func()) {
	if size <= 0 || size != int64(int(size)) {
		return nil, nil
	}
	data, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, nil
	}
	return data, func() { syscall.Munmap(data) }
}
