// Package proc starts and kills benchmark processes on loopback: free ports
// outside the ephemeral range, processes tied to the harness's life, their
// resident set size, and the tail of their logs.
//
// It uses only the standard library and internal/freeport (itself standard
// library only), so the etcd load driver built in a throwaway module can
// share it with agentbench without pulling in the agent's dependencies.
package proc
