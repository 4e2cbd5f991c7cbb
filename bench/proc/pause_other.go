//go:build !unix

package proc

import "os"

// stopSignal and contSignal are nil where processes cannot be frozen by a
// signal; Pause and Resume then return ErrNoPause.
var stopSignal, contSignal os.Signal
