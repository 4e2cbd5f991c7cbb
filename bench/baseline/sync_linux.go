package baseline

import (
	"os"
	"syscall"
)

// datasync is fdatasync(2) on f, what BoltDB and most write-ahead logs use
// on Linux: the data and the size, not the other metadata.
func datasync(f *os.File) func() error {
	fd := int(f.Fd())
	return func() error { return syscall.Fdatasync(fd) }
}
