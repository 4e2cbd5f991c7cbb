package linearize

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// hardHistory returns n concurrent unknown puts and a read of a value
// none of them wrote: refuting it means trying every subset of the puts,
// 2^n of them, so no checker finishes it quickly.
func hardHistory(n int) []porcupine.Operation {
	ops := make([]porcupine.Operation, 0, n+1)
	for i := 0; i < n; i++ {
		ops = append(ops, unknownPut(i, "k", fmt.Sprint(i), 0))
	}
	return append(ops, get(n, "k", 0, 1, "never written", 1, 1))
}

func TestCheckTimeoutIsAFailure(t *testing.T) {
	t.Parallel()
	res, err := Check(hardHistory(64), 50*time.Millisecond)
	if !errors.Is(err, ErrCheckTimeout) {
		t.Fatalf("want %v, got verdict %s, error %v", ErrCheckTimeout, res.Verdict, err)
	}
	if res.Verdict != porcupine.Unknown || res.Ok() {
		t.Fatalf("want verdict Unknown and not Ok, got %s", res.Verdict)
	}
	dir := t.TempDir()
	if err := res.WriteReport(dir); err != nil {
		t.Fatalf("report of a timed-out check: %v", err)
	}
}

func TestWriteReport(t *testing.T) {
	t.Parallel()
	ops := []porcupine.Operation{
		put(0, "x", "1", 0, 10, 3),
		put(0, "x", "2", 11, 20, 7),
		get(1, "x", 21, 30, "1", 3, 3),
		unknownDel(1, "y", 31),
	}
	res, err := Check(ops, 10*time.Second)
	if !errors.Is(err, ErrNotLinearizable) {
		t.Fatalf("want %v, got %v", ErrNotLinearizable, err)
	}
	dir := filepath.Join(t.TempDir(), "report")
	if err := res.WriteReport(dir); err != nil {
		t.Fatal(err)
	}
	html, err := os.ReadFile(filepath.Join(dir, ReportHTML))
	if err != nil {
		t.Fatal(err)
	}
	if len(html) == 0 {
		t.Fatalf("%s is empty", ReportHTML)
	}
	raw, err := os.ReadFile(filepath.Join(dir, ReportHistory))
	if err != nil {
		t.Fatal(err)
	}
	var dump jsonReport
	if err := json.Unmarshal(raw, &dump); err != nil {
		t.Fatalf("%s: %v", ReportHistory, err)
	}
	if dump.Verdict != porcupine.Illegal || len(dump.Operations) != len(ops) {
		t.Fatalf("dump has verdict %s and %d operations, want Illegal and %d", dump.Verdict, len(dump.Operations), len(ops))
	}

	if err := (Result{}).WriteReport(t.TempDir()); !errors.Is(err, ErrNoInfo) {
		t.Fatalf("unchecked result: want %v, got %v", ErrNoInfo, err)
	}
}
