//go:build !linux

package baseline

import "os"

// datasync falls back to fsync where there is no fdatasync.
func datasync(f *os.File) func() error { return f.Sync }
