package snapshot

import (
	"errors"
	"fmt"
	"io"

	"github.com/clusteragent/agent/agent/kv"
)

// ErrOtherCluster: the archive comes from another cluster and the restore
// was not forced.
var ErrOtherCluster = errors.New("snapshot from another cluster")

// Info is what Verify learned about an archive.
type Info struct {
	Meta
	// Size is the archive's length in bytes.
	Size int64 `json:"size"`
	// Keys, Tombstones and Leases count the state's records.
	Keys       uint64 `json:"keys"`
	Tombstones uint64 `json:"tombstones"`
	Leases     uint64 `json:"leases"`
	// ChecksumOK is true once the SHA-256 and the state's own checks held.
	ChecksumOK bool `json:"checksum_ok"`
}

// Verify reads the whole archive in r: header, metadata, the state with
// every check a restore would make (kv.ScanSnapshot), and the SHA-256. On
// error the Info holds what was read before it went wrong.
func Verify(r io.Reader) (Info, error) {
	cr := &countReader{r: r}
	rd, err := Open(cr)
	if err != nil {
		return Info{}, err
	}
	info := Info{Meta: rd.Meta()}
	sum, scanErr := kv.ScanSnapshot(rd.State())
	// The checksum decides first: a damaged file is reported as such, not
	// by whatever its damage made the state parser see.
	if err := rd.Close(); err != nil {
		info.Size = cr.n
		return info, err
	}
	info.Size = cr.n
	if scanErr != nil {
		if errors.Is(scanErr, ErrCorrupt) || errors.Is(scanErr, kv.ErrCorruptSnapshot) || errors.Is(scanErr, kv.ErrUnsupportedSnapshot) {
			return info, fmt.Errorf("%w: the state: %v", ErrCorrupt, scanErr)
		}
		return info, scanErr
	}
	if sum.AppliedIndex > info.Index {
		return info, fmt.Errorf("%w: the state has applied index %d, above the archive's index %d", ErrCorrupt, sum.AppliedIndex, info.Index)
	}
	info.Keys, info.Tombstones, info.Leases, info.ChecksumOK = sum.Keys, sum.Tombstones, sum.Leases, true
	return info, nil
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// CheckCluster decides whether an archive taken in cluster from may be
// restored into cluster into. An archive without an ID (taken before the
// cluster had one) or a target without one is not a mismatch.
func CheckCluster(from, into string, force bool) error {
	if from == "" || into == "" || from == into || force {
		return nil
	}
	return fmt.Errorf("%w: the snapshot is from cluster %q, this is cluster %q; force the restore to replace this cluster's state anyway", ErrOtherCluster, from, into)
}
