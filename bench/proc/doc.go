// Package proc is the module's one process harness: it starts processes
// (the agent binary, the etcd load driver) on loopback with their logs in
// files, stops them (SIGTERM with a bounded wait, then SIGKILL), kills,
// pauses and resumes them, reads their CPU time and resident set size, and
// finds free ports outside the ephemeral range. The benchmarks'
// agentcluster, the chaos suite's process runner and cmd/agent's process
// tests all start agents through it.
//
// It is this package, rather than a new one, because it alone has to stay
// standard library only (with internal/freeport, itself standard library
// only): the etcd load driver built in a throwaway module shares it with
// agentbench without pulling in the agent's dependencies. What the three
// harnesses differ in (config files, HTTP checks) stays with them.
package proc
