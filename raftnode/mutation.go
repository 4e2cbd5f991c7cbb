package raftnode

import "github.com/clusteragent/agent/raftnode/command"

// Mutation is the envelope Node.Apply writes to the log. It lives in the
// leaf package command, so that state machines can decode it without
// importing the node; this alias keeps Node.Apply's signature readable.
type Mutation = command.Mutation

// NewMutation builds a Mutation, marshalling payload to JSON (nil payload:
// none). See command.NewMutation.
func NewMutation(typ string, payload any) (Mutation, error) {
	return command.NewMutation(typ, payload)
}
