//go:build unix

package main

import "syscall"

// restrictUmask makes every file and directory the agent creates private to
// its user (files 0600, directories 0700): the data dir holds the Raft log,
// snapshots, the gossip keyring and the node's identity, and libraries such
// as raft's snapshot store create theirs with world-readable modes.
func restrictUmask() { syscall.Umask(0o077) }
