// Package bench is the home of the performance suite: agentbench (in
// cmd/agentbench) starts a three-node loopback cluster of the built agent
// binary, drives the HTTP KV API with keep-alive clients and writes one
// table as text, Markdown and JSON; with -etcd it also builds etcd from the
// module proxy in a throwaway module and runs the same load against a
// three-member etcd, so both sides come from one run on one machine.
//
// Nothing here is imported by the agent: the directory holds only the
// harness, and etcd enters only the throwaway module's go.mod.
package bench
