package raftnode

import (
	"errors"
	"fmt"

	"github.com/clusteragent/agent/raftnode/command"
)

// Sentinel errors. Wrapped errors keep these reachable through errors.Is.
var (
	// ErrNotLeader is returned (inside a *NotLeaderError) when an operation
	// that needs the leader runs on another node.
	ErrNotLeader = errors.New("not the leader")
	// ErrNoLeader is matched by a *NotLeaderError that knows no leader: the
	// cluster is electing, or this node is not (yet) part of one.
	ErrNoLeader = errors.New("no known leader")
	// ErrExistingState is returned by Bootstrap when the node already has
	// Raft state: bootstrapping over it could create a second cluster.
	ErrExistingState = errors.New("raft state already exists")
	// ErrClosed is returned by every operation after Close.
	ErrClosed = errors.New("node closed")
	// ErrUnknownMutation is the FSM response for a mutation type no handler
	// is registered for.
	ErrUnknownMutation = command.ErrUnknownMutation
	// ErrInvalidMutation is returned for bytes that are not a valid encoded
	// Mutation.
	ErrInvalidMutation = command.ErrInvalidMutation
	// ErrInvalidOptions is wrapped by Options.Validate errors.
	ErrInvalidOptions = errors.New("invalid options")
	// ErrInvalidArgument is wrapped when a call gets a malformed argument
	// (an empty ID, an address that is not host:port).
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrUnknownServer is returned when an ID is not in the configuration.
	ErrUnknownServer = errors.New("server not in the raft configuration")
	// ErrDataDirInUse is returned by NewNode when another process (or another
	// Node in this process) holds the data dir's raft.db.
	ErrDataDirInUse = errors.New("data dir in use")
	// ErrFSM wraps an error value returned by the state machine from Apply,
	// so callers can tell a rejected command (committed, but refused by the
	// FSM) from a failure to commit.
	ErrFSM = errors.New("state machine returned an error")
)

// NotLeaderError says which node to retry on. It matches ErrNotLeader with
// errors.Is, and also ErrNoLeader when no leader is known.
type NotLeaderError struct {
	// LeaderID and LeaderAddr identify the current leader as this node sees
	// it; both are empty when no leader is known.
	LeaderID, LeaderAddr string
}

// Error describes the leader to retry on.
func (e *NotLeaderError) Error() string {
	if e.LeaderAddr == "" {
		return "not the leader, and no leader is known"
	}
	return fmt.Sprintf("not the leader; leader is %s at %s", e.LeaderID, e.LeaderAddr)
}

// Is makes errors.Is(err, ErrNotLeader) true, and errors.Is(err, ErrNoLeader)
// true when the leader is unknown.
func (e *NotLeaderError) Is(target error) bool {
	return target == ErrNotLeader || (target == ErrNoLeader && e.LeaderAddr == "")
}

// ErrStoreConflict is returned by NewNode (and the offline store commands)
// when the data dir's log store cannot be told for certain: it holds both
// stores, or only the remains of an unfinished migration.
var ErrStoreConflict = errors.New("ambiguous log store in data dir")

// Errors of MigrateStore. Each is wrapped with a message naming the data
// dir and the files involved.
var (
	// ErrNoRaftState: the data dir holds neither log store, so there is
	// nothing to migrate.
	ErrNoRaftState = errors.New("no raft state in data dir")
	// ErrAlreadyOnStore: the data dir already uses the requested store. It is
	// not a failure; the command that gets it has nothing to do.
	ErrAlreadyOnStore = errors.New("data dir already uses the requested log store")
	// ErrMigrationMismatch: the copy differs from the store it was made
	// from. The source is left as it was.
	ErrMigrationMismatch = errors.New("migrated copy does not match its source")
)
