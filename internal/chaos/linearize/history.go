package linearize

import (
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
)

// outcome is how a recorded operation ended.
type outcome int

const (
	inFlight outcome = iota // not finished yet
	done                    // the server answered
	unknown                 // a write that may or may not have been applied
	failed                  // definitely not applied, or a read that failed
)

// record is one operation as the Recorder keeps it.
type record struct {
	client  int
	input   Input
	output  interface{}
	call    int64
	ret     int64
	outcome outcome
}

// Recorder collects the history of concurrent KV clients. All methods are
// safe for concurrent use. Timestamps come from Go's monotonic clock, so
// wall-clock steps cannot reorder operations.
type Recorder struct {
	start time.Time

	mu   sync.Mutex
	recs []*record
}

// NewRecorder returns an empty Recorder whose clock starts now.
func NewRecorder() *Recorder {
	return &Recorder{start: time.Now()}
}

// now returns nanoseconds since the recorder started; time.Since uses the
// monotonic reading of start.
func (r *Recorder) now() int64 { return int64(time.Since(r.start)) }

// begin records the call of an operation just before the request is sent.
func (r *Recorder) begin(client int, in Input) *record {
	rec := &record{client: client, input: in}
	r.mu.Lock()
	defer r.mu.Unlock()
	// Stamp under the lock so that an operation begun after another
	// finished always gets a later timestamp.
	rec.call = r.now()
	r.recs = append(r.recs, rec)
	return rec
}

// finish ends rec once; later calls are ignored so that a deferred
// Unknown after a Done is harmless.
func (r *Recorder) finish(rec *record, o outcome, output interface{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if rec.outcome != inFlight {
		return
	}
	rec.ret = r.now()
	rec.outcome = o
	rec.output = output
}

// PendingGet is a read in flight. Exactly one of its methods should be
// called when the read ends; the first call wins.
type PendingGet struct {
	r   *Recorder
	rec *record
}

// PendingWrite is a put or delete in flight. Exactly one of its methods
// should be called when the write ends; the first call wins.
type PendingWrite struct {
	r   *Recorder
	rec *record
}

// BeginGet records that client starts reading key. client numbers start
// at 0 and identify a sequential client (one operation at a time).
func (r *Recorder) BeginGet(client int, key string) *PendingGet {
	return &PendingGet{r: r, rec: r.begin(client, Input{Op: OpGet, Key: key})}
}

// BeginPut records that client starts writing value to key; cas nil
// means an unconditional put.
func (r *Recorder) BeginPut(client int, key, value string, cas *uint64) *PendingWrite {
	in := Input{Op: OpPut, Key: key, Value: value}
	if cas != nil {
		in.HasCAS, in.CAS = true, *cas
	}
	return &PendingWrite{r: r, rec: r.begin(client, in)}
}

// BeginLeasePut records that client starts writing value to key attached
// to lease (?lease=ID): the key may vanish whenever the lease ends.
func (r *Recorder) BeginLeasePut(client int, key, value, lease string) *PendingWrite {
	return &PendingWrite{r: r, rec: r.begin(client, Input{Op: OpPut, Key: key, Value: value, Lease: lease})}
}

// BeginDelete records that client starts deleting key; cas as for BeginPut.
func (r *Recorder) BeginDelete(client int, key string, cas *uint64) *PendingWrite {
	in := Input{Op: OpDelete, Key: key}
	if cas != nil {
		in.HasCAS, in.CAS = true, *cas
	}
	return &PendingWrite{r: r, rec: r.begin(client, in)}
}

// Done records the server's answer: 200 with the entry or 404.
func (p *PendingGet) Done(res GetResult) { p.r.finish(p.rec, done, res) }

// Failed records a read that got no answer or an error. A failed read
// says nothing about the store, so it is left out of the history.
func (p *PendingGet) Failed() { p.r.finish(p.rec, failed, nil) }

// Done records the server's answer {"ok","index"}.
func (p *PendingWrite) Done(res WriteResult) {
	res.Unknown = false
	p.r.finish(p.rec, done, res)
}

// Unknown records a write whose fate the client cannot know: a timeout, a
// reset connection, or a 5xx once the request may have reached the server.
// The checker may treat it as applied at any later time, or not at all.
func (p *PendingWrite) Unknown() { p.r.finish(p.rec, unknown, WriteResult{Unknown: true}) }

// Failed records a write that certainly was not applied: refused before it
// was sent (connection refused) or answered 4xx. When in doubt use Unknown:
// calling Failed for a write that was applied makes a correct store look
// broken.
func (p *PendingWrite) Failed() { p.r.finish(p.rec, failed, nil) }

// Operations returns the history for Check. Failed operations are left
// out; unknown writes, and writes still in flight, return after every
// recorded event, so the checker may place them anywhere after their call;
// reads still in flight are left out.
func (r *Recorder) Operations() []porcupine.Operation {
	r.mu.Lock()
	defer r.mu.Unlock()
	end := r.now() + 1
	ops := make([]porcupine.Operation, 0, len(r.recs))
	for _, rec := range r.recs {
		op := porcupine.Operation{ClientId: rec.client, Input: rec.input, Call: rec.call, Output: rec.output, Return: rec.ret}
		switch {
		case rec.outcome == done:
		case rec.outcome == failed, rec.outcome == inFlight && rec.input.Op == OpGet:
			continue
		default: // unknown, or a write still in flight
			op.Output, op.Return = WriteResult{Unknown: true}, end
		}
		ops = append(ops, op)
	}
	return ops
}
