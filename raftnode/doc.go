// Package raftnode runs one hashicorp/raft server for the agent: a raft-wal
// or BoltDB log and stable store, file snapshots, a TCP or mutual-TLS transport, the
// bootstrap rules, a leadership channel, Prometheus metrics, and
// context-aware wrappers over raft's futures. It takes any raft.FSM and
// knows nothing of gossip, HTTP or the KV command format.
//
// # Lifecycle
//
// NewNode validates Options, locks DataDir (DataDir/LOCK), opens its log
// store (DataDir/wal for raft-wal, the default for a new data dir, or
// DataDir/raft.db for BoltDB; a data dir keeps the store it has, see
// Options.LogStore and MigrateStore), wrapped in a 512-entry log cache, and
// DataDir/snapshots, listens on BindAddr (or adopts Options.Listener), starts
// raft and applies the bootstrap rules. Close shuts raft down (without
// leaving the cluster, so a restart keeps its place), then the transport and
// every connection it opened, then the log store, and unregisters the
// metrics. Close is idempotent and leaves no goroutine behind. A data dir can
// be open in one Node at a time; a second NewNode on it fails at once with
// ErrDataDirInUse.
//
// # Bootstrap rules
//
// Applied once, in NewNode, and never over existing Raft state (a term, a
// log entry or a snapshot, as raft.HasExistingState sees it):
//
//   - JoinOnly: never; a leader adds the node.
//   - BootstrapPreferred: this node, plus Peers if given, all voters.
//   - Peers == {self}: bootstrap alone.
//   - Peers with several IDs including self: only the lowest ID (byte-wise
//     string order) bootstraps, with every peer as a voter. The others start
//     empty and receive the configuration by replication, so two bootstraps
//     can never race into two clusters.
//   - Peers not including self, or no Peers: never. The caller may call
//     Bootstrap(servers) later, for example once gossip has seen
//     bootstrap-expect servers.
//
// A wiped server is indistinguishable from a new one. If it is the lowest ID
// of a static peer set it would bootstrap again, so a server whose data dir
// was lost must rejoin with JoinOnly (or without peers) and be re-added by
// the running cluster. Bootstrap itself returns ErrExistingState whenever
// the node has any state.
//
// New servers should enter with AddNonvoter and be promoted with AddVoter
// once caught up (the agent's autopilot does this), so a newcomer that is
// still copying the log never counts towards quorum.
//
// # Timing
//
// Heartbeat 500ms, election 500ms and leader lease 250ms, half of raft's own
// defaults, replace a failed leader within 0.5 to 1 s on a LAN;
// Options.Multiplier (1..10) scales them for slower environments, and the
// explicit timeout fields win over both. The commit timeout (50ms) is not
// scaled. SetLoopbackTimers gives fast timers for single-host clusters.
// Pre-vote is on (raft v1.8's default). Applies are group-committed: the
// apply channel is buffered (BatchApplyCh) and up to 256 entries go in one
// fsync and one AppendEntries. A removed server keeps running as a follower
// outside the configuration (ShutdownOnRemove is off) so it can be added
// again.
//
// # Contexts and errors
//
// Every call that waits on raft converts the context deadline into raft's
// timeout (10s when there is none) and also returns ctx.Err() as soon as the
// context ends, or ErrClosed when the node closes. A call that needs the
// leader and runs elsewhere returns a *NotLeaderError naming the leader;
// errors.Is(err, ErrNotLeader) holds, and errors.Is(err, ErrNoLeader) too
// when no leader is known. An error value returned by the FSM is committed
// state, not a failure: Propose returns it in Result.Response, Apply and
// ApplyBytes wrap it in ErrFSM.
//
// # Leadership and reads
//
// LeaderCh delivers every leadership change in order, from raft's NotifyCh
// through an unbounded queue, so raft never blocks on a slow consumer.
// LinearizableRead confirms leadership with a quorum and waits for the FSM
// to catch up with the commit index (running a Barrier once per term).
// TransferLeadership returns once leadership has actually moved.
//
// # Metrics
//
// With Options.Registerer set: raft_leadership_changes_total,
// raft_apply_latency_seconds (histogram), and, read from raft when scraped,
// raft_state{state="leader|follower|candidate|shutdown"} (1 for the current
// state), raft_term, raft_commit_index, raft_applied_index,
// raft_last_contact_seconds (0 on the leader, -1 before any contact),
// raft_log_size_bytes (size of wal/ or raft.db), raft_log_store_info{store}
// and, on the WAL, raft-wal's counters as raft_wal_*. Nodes in one process
// need separate registries.
//
// # Mutations
//
// Mutation is the envelope of log entries, a type and a payload; it and
// Router, an FSM helper that dispatches them by type, live in the leaf
// package command, so that a state machine does not import the node. The
// envelope is binary (a magic byte, the type, the payload as given): every
// node decodes every entry, so it must cost next to nothing. The payload is
// opaque to raftnode: JSON when built with NewMutation, or a handler's own
// encoding. JSON envelopes {"type", "payload"} written by earlier versions
// still decode. Anything malformed is rejected with ErrInvalidMutation; an
// unregistered type yields ErrUnknownMutation as the FSM response, on every
// node alike.
//
// # Group commit
//
// Applies that arrive while the leader writes its log are batched into one
// log write and one AppendEntries (up to 256 entries). A state machine that
// implements raft.BatchingFSM receives each committed batch whole (the
// key/value store applies it in one radix transaction); a plain raft.FSM
// gets the commands one by one.
//
// The raftnodetest package holds a recording FSM for tests.
package raftnode
