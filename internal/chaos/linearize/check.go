package linearize

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/anishathalye/porcupine"
)

// Names of the files WriteReport writes.
const (
	ReportHTML    = "linearizability.html"
	ReportHistory = "history.json"
)

// Result is the outcome of Check.
type Result struct {
	// Verdict is porcupine.Ok, porcupine.Illegal, or porcupine.Unknown
	// when the checker timed out.
	Verdict porcupine.CheckResult
	// Operations is the history that was checked.
	Operations []porcupine.Operation
	// Duration is how long the checker ran.
	Duration time.Duration

	info    porcupine.LinearizationInfo
	hasInfo bool
}

// Ok reports whether the history was proven linearizable. A timeout is not
// Ok: it proves nothing.
func (r Result) Ok() bool { return r.Verdict == porcupine.Ok }

// Check decides whether ops, as from Recorder.Operations, is linearizable
// against Model, giving up after timeout (which must be positive, so a
// chaos run can never hang in the checker). The error is nil only when the
// verdict is Ok; otherwise it wraps ErrNotLinearizable, ErrCheckTimeout or
// ErrInvalidHistory, and the Result can still be written with WriteReport.
func Check(ops []porcupine.Operation, timeout time.Duration) (Result, error) {
	res := Result{Operations: ops}
	if timeout <= 0 {
		return res, fmt.Errorf("%w: check timeout %s must be positive", ErrInvalidHistory, timeout)
	}
	if err := ValidateOperations(ops); err != nil {
		return res, err
	}
	start := time.Now()
	res.Verdict, res.info = porcupine.CheckOperationsVerbose(Model(), ops, timeout)
	res.Duration, res.hasInfo = time.Since(start), true
	switch res.Verdict {
	case porcupine.Ok:
		return res, nil
	case porcupine.Illegal:
		return res, fmt.Errorf("%w: %d operations checked in %s", ErrNotLinearizable, len(ops), res.Duration)
	default:
		return res, fmt.Errorf("%w: no verdict on %d operations after %s", ErrCheckTimeout, len(ops), timeout)
	}
}

// ValidateOperations checks that every operation is one the model can
// step: porcupine would panic on a wrong type, and a return before its call
// would silently distort the real-time order.
func ValidateOperations(ops []porcupine.Operation) error {
	for i, op := range ops {
		if err := validateOperation(op); err != nil {
			return fmt.Errorf("%w: operation %d: %v", ErrInvalidHistory, i, err)
		}
	}
	return nil
}

func validateOperation(op porcupine.Operation) error {
	in, ok := op.Input.(Input)
	if !ok {
		return fmt.Errorf("input is %T, want linearize.Input", op.Input)
	}
	if op.ClientId < 0 {
		return fmt.Errorf("client id %d is negative", op.ClientId)
	}
	if op.Return < op.Call {
		return fmt.Errorf("returns at %d, before its call at %d", op.Return, op.Call)
	}
	switch in.Op {
	case OpGet:
		if _, ok := op.Output.(GetResult); !ok {
			return fmt.Errorf("get output is %T, want linearize.GetResult", op.Output)
		}
	case OpPut, OpDelete:
		if _, ok := op.Output.(WriteResult); !ok {
			return fmt.Errorf("%s output is %T, want linearize.WriteResult", in.Op, op.Output)
		}
	default:
		return fmt.Errorf("unknown op %q", in.Op)
	}
	return nil
}

// jsonOperation is one operation in the history dump.
type jsonOperation struct {
	ClientID int         `json:"client_id"`
	CallNS   int64       `json:"call_ns"`
	ReturnNS int64       `json:"return_ns"`
	Input    interface{} `json:"input"`
	Output   interface{} `json:"output"`
}

// jsonReport is the history dump: enough to re-run the check offline.
type jsonReport struct {
	Verdict    porcupine.CheckResult `json:"verdict"`
	DurationNS int64                 `json:"duration_ns"`
	Operations []jsonOperation       `json:"operations"`
}

// WriteReport writes, into dir (created if needed), the porcupine HTML
// visualization (ReportHTML) and a JSON dump of the history and verdict
// (ReportHistory), for a person to see which operations could not be
// ordered. Call it when Check failed; it works for any checked Result.
func (r Result) WriteReport(dir string) error {
	if !r.hasInfo {
		return fmt.Errorf("linearize: write report: %w: the history was never checked", ErrNoInfo)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("linearize: write report: %w", err)
	}
	if err := porcupine.VisualizePath(Model(), r.info, filepath.Join(dir, ReportHTML)); err != nil {
		return fmt.Errorf("linearize: write %s: %w", ReportHTML, err)
	}
	rep := jsonReport{Verdict: r.Verdict, DurationNS: int64(r.Duration), Operations: make([]jsonOperation, len(r.Operations))}
	for i, op := range r.Operations {
		rep.Operations[i] = jsonOperation{ClientID: op.ClientId, CallNS: op.Call, ReturnNS: op.Return, Input: op.Input, Output: op.Output}
	}
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return fmt.Errorf("linearize: encode %s: %w", ReportHistory, err)
	}
	path := filepath.Join(dir, ReportHistory)
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("linearize: write %s: %w", ReportHistory, err)
	}
	return nil
}
