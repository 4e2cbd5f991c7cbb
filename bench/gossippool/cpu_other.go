//go:build !unix

package gossippool

import "time"

// cpuTime is not measured here: CPU figures read zero.
func cpuTime() time.Duration { return 0 }
