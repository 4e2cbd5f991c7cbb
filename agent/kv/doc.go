// Package kv is the agent's replicated key/value store: a raft.FSM whose
// log entries are command.Mutation commands of type TypePutBin and
// TypeDeleteBin, built with PutMutation and DeleteMutation (entries of the
// JSON types TypePut and TypeDelete, written by earlier versions, still
// apply).
//
// # Data model
//
// Keys are "/"-separated UTF-8 paths (see ValidateKey), values any bytes up
// to Limits.MaxValueBytes. Every key carries the log index that created it
// and the one that last modified it. A put with cas (compare-and-set)
// succeeds only if the key's modify index equals cas, where a missing key
// counts as 0, so cas 0 means "only if absent"; a failed compare is not an
// error but Result{OK: false}. Deleting a missing key succeeds.
//
// # Determinism
//
// Apply depends only on the entry and the state before it: no clock, no
// randomness, no I/O, no map iteration. Commands are validated again on
// every replica (a log entry is never trusted), and an entry that fails is
// answered with an error value and changes no key, identically everywhere.
// Apply never panics on any input.
//
// # Concurrency and memory
//
// The data lives in an immutable radix tree (hashicorp/go-immutable-radix).
// Every write publishes a new root through an atomic pointer, so reads
// never wait for Apply, and Snapshot captures the root in O(1): Persist
// then streams that version while Apply goes on, and the only extra memory
// is the nodes that later writes replace plus one 64 KiB buffer. Restore
// streams the other way into a fresh tree and swaps it in only when the
// whole stream checked out; it never reads the snapshot into memory.
//
// # Blocking reads and tombstones
//
// Store.Wait blocks until a key, or anything under a prefix, changed after
// a given index, on the radix tree's own watch channels (see watch.go). A
// delete leaves a tombstone so a later watcher still learns of it; at most
// Limits.MaxTombstones are kept (oldest dropped first, deterministically,
// by count, since apply has no clock), and View.Horizon is the highest
// delete index dropped: WakeIndex answers a watcher below it at once.
//
// # Snapshot format
//
// A versioned header, one length-prefixed record per key in key order, one
// per tombstone, and a trailer with the counts, the applied index, the
// tombstone horizon and a CRC-32C of everything before it (see
// snapshot.go; version 1, without tombstones, still restores). Restore rejects a bad magic, an
// unknown version, truncation, a checksum mismatch, out-of-order or invalid
// records, and trailing data, and keeps the old state when it does.
package kv
