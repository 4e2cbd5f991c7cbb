package linearize

import (
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// FuzzCheck feeds arbitrary well-typed histories to Check: whatever the
// answers, it must return a verdict or an error, never panic or hang.
func FuzzCheck(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Add([]byte{3, 3, 3, 200, 9, 1, 0, 0, 7, 7, 7, 7})
	f.Fuzz(func(t *testing.T, data []byte) {
		var ops []porcupine.Operation
		for i := 0; i+4 <= len(data) && len(ops) < 12; i += 4 {
			b := data[i : i+4]
			call := int64(b[1] % 16)
			in := Input{Key: string('a' + rune(b[0]%2)), Value: string('0' + rune(b[2]%3)), HasCAS: b[3]&1 == 1, CAS: uint64(b[3] >> 4)}
			var out interface{}
			switch b[0] % 3 {
			case 0:
				in.Op, out = OpGet, GetResult{Found: b[2]&4 == 0, Value: in.Value, CreateIndex: uint64(b[3] % 8), ModifyIndex: uint64(b[3] >> 3)}
			case 1:
				in.Op, out = OpPut, WriteResult{Unknown: b[1]&16 != 0, OK: b[1]&32 == 0, Index: uint64(b[2])}
			default:
				in.Op, in.Value, out = OpDelete, "", WriteResult{Unknown: b[1]&16 != 0, OK: b[1]&32 == 0, Index: uint64(b[2])}
			}
			ops = append(ops, porcupine.Operation{ClientId: int(b[0] % 4), Input: in, Call: call, Output: out, Return: call + int64(b[1]>>4)})
		}
		res, err := Check(ops, 5*time.Second)
		if (err == nil) != res.Ok() {
			t.Fatalf("verdict %s disagrees with error %v", res.Verdict, err)
		}
	})
}
