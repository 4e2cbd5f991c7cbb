package linearize

import "errors"

// Sentinel errors returned (wrapped) by Check and WriteReport.
var (
	// ErrNotLinearizable: no order of the operations explains the answers
	// the clients saw; the store broke its contract.
	ErrNotLinearizable = errors.New("history is not linearizable")
	// ErrCheckTimeout: the checker gave up before reaching a verdict. It
	// counts as a failure, since a check that proves nothing must not pass.
	ErrCheckTimeout = errors.New("linearizability check timed out")
	// ErrInvalidHistory: an operation is malformed (wrong types, return
	// before call, negative client); the history cannot be checked.
	ErrInvalidHistory = errors.New("invalid history")
	// ErrNoInfo: the Result carries no checker information to report.
	ErrNoInfo = errors.New("no check information")
)
