// Package chaos is the fault-injection suite: it runs a cluster of agents
// (in-process, as processes of the built binary, or in containers: the
// runners under inproc, procrun and dockerrun), sends a recorded key/value
// load from several clients while a seeded nemesis breaks the cluster
// (partitions, pauses, crashes, restarts), heals it, and then checks the
// invariants: every node holds the same state, every acknowledged write is
// present, and the recorded history is linearizable (package linearize).
// A run is reproducible from its seed; `make chaos` runs it, and
// `make chaos-bite` checks it catches builds broken on purpose.
package chaos
