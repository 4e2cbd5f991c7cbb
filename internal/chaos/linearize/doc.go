// Package linearize records the history of concurrent KV clients and
// checks it for linearizability with porcupine: the verifier half of the
// fault-injection tests, in the manner of etcd's robustness tests.
//
// A test wraps every client request in the Recorder (BeginGet, BeginPut,
// BeginDelete, then Done, Unknown or Failed), and after the faults calls
// Check(rec.Operations(), timeout). On failure, Result.WriteReport leaves
// an HTML visualization and a JSON history for a person to read.
//
// # The model
//
// Model is the store of README.md#http-api, one partition per key, every key
// starting absent. Indexes are Raft log indexes shared by all keys, so the
// model never assumes they are consecutive; it only requires that the
// writes to one key carry strictly increasing indexes in linearization
// order, that a successful write sets the key's modify index (and its
// create index when it was absent) to the write's index, that a
// compare-and-set succeeds iff (cas 0 and the key is absent) or (present
// and modify index == cas), and that a failed compare changes nothing.
//
// A write whose answer was lost (Unknown) may have been applied or not,
// so the model is nondeterministic: it keeps every state the key may be
// in. If applied, its index is unknown until a later read shows it; until
// then the model only knows it lies above every earlier write's index.
// Reads that failed carry no information and are dropped.
//
// A checker timeout is reported as a failure (ErrCheckTimeout), never as a
// pass: a check that proves nothing must not let a broken store through.
package linearize
