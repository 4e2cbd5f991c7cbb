package raftnode

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/raft"
)

// AddVoter adds a voter, or promotes an existing non-voter, or updates a
// voter's address. Leader only. Prefer AddNonvoter first and promote once
// the server has caught up, so a slow newcomer never counts towards quorum.
func (n *Node) AddVoter(ctx context.Context, id, addr string) error {
	if err := checkServer(id, addr); err != nil {
		return err
	}
	_, err := n.do(ctx, func(t time.Duration) raft.Future {
		return n.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(addr), 0, t)
	})
	return err
}

// AddNonvoter adds a server that receives the log but does not vote, or
// updates its address. Leader only.
func (n *Node) AddNonvoter(ctx context.Context, id, addr string) error {
	if err := checkServer(id, addr); err != nil {
		return err
	}
	_, err := n.do(ctx, func(t time.Duration) raft.Future {
		return n.raft.AddNonvoter(raft.ServerID(id), raft.ServerAddress(addr), 0, t)
	})
	return err
}

// DemoteVoter turns a voter into a non-voter. Leader only.
func (n *Node) DemoteVoter(ctx context.Context, id string) error {
	if err := validateServerID("server ID", id); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidArgument, err)
	}
	_, err := n.do(ctx, func(t time.Duration) raft.Future {
		return n.raft.DemoteVoter(raft.ServerID(id), 0, t)
	})
	return err
}

// RemoveServer removes a server from the configuration. Leader only.
// Removing the leader itself makes it step down once the change commits.
func (n *Node) RemoveServer(ctx context.Context, id string) error {
	if err := validateServerID("server ID", id); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidArgument, err)
	}
	_, err := n.do(ctx, func(t time.Duration) raft.Future {
		return n.raft.RemoveServer(raft.ServerID(id), 0, t)
	})
	return err
}

// GetConfiguration returns the latest configuration this node knows, with
// the leader marked. It works on any node.
func (n *Node) GetConfiguration(ctx context.Context) (Configuration, error) {
	if err := ctx.Err(); err != nil {
		return Configuration{}, err
	}
	if n.isClosed() {
		return Configuration{}, ErrClosed
	}
	// Raft answers this future synchronously, so no goroutine is needed.
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return Configuration{}, n.mapErr(err)
	}
	leader := n.LeaderID()
	cfg := Configuration{Index: n.store.configs.configIndex()}
	for _, s := range f.Configuration().Servers {
		cfg.Servers = append(cfg.Servers, Server{
			ID:       string(s.ID),
			Address:  string(s.Address),
			Suffrage: strings.ToLower(s.Suffrage.String()),
			Leader:   leader != "" && string(s.ID) == leader,
		})
	}
	return cfg, nil
}

// TransferLeadership hands leadership to the voter id, or with id "" to the
// most up-to-date voter, and returns once this node is no longer leader and
// the new leader (id, if given) is known here. Leader only.
func (n *Node) TransferLeadership(ctx context.Context, id string) error {
	if n.isClosed() {
		return ErrClosed
	}
	if !n.IsLeader() {
		return n.notLeader()
	}
	start := func(time.Duration) raft.Future { return n.raft.LeadershipTransfer() }
	if id != "" {
		target, err := n.transferTarget(ctx, id)
		if err != nil {
			return err
		}
		start = func(time.Duration) raft.Future {
			return n.raft.LeadershipTransferToServer(target.ID, target.Address)
		}
	}
	if _, err := n.do(ctx, start); err != nil {
		return err
	}
	return n.pollUntil(ctx, func() bool {
		leader := n.LeaderID()
		return !n.IsLeader() && leader != "" && leader != n.opts.NodeID && (id == "" || leader == id)
	})
}

// transferTarget looks id up in the configuration: only another voter can
// take over.
func (n *Node) transferTarget(ctx context.Context, id string) (raft.Server, error) {
	if id == n.opts.NodeID {
		return raft.Server{}, fmt.Errorf("%w: cannot transfer leadership to this node (%s)", ErrInvalidArgument, id)
	}
	cfg, err := n.GetConfiguration(ctx)
	if err != nil {
		return raft.Server{}, err
	}
	for _, s := range cfg.Servers {
		if s.ID != id {
			continue
		}
		if s.Suffrage != "voter" {
			return raft.Server{}, fmt.Errorf("%w: %s is a %s, only voters can lead", ErrInvalidArgument, id, s.Suffrage)
		}
		return raft.Server{ID: raft.ServerID(s.ID), Address: raft.ServerAddress(s.Address)}, nil
	}
	return raft.Server{}, fmt.Errorf("%w: %s", ErrUnknownServer, id)
}

// checkServer validates an ID and address passed to a membership call.
func checkServer(id, addr string) error {
	if err := validateServerID("server ID", id); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidArgument, err)
	}
	host, port, err := splitHostPort(addr)
	if err != nil || host == "" || port == 0 {
		return fmt.Errorf("%w: server %s address %q is not a dialable host:port", ErrInvalidArgument, id, addr)
	}
	return nil
}
