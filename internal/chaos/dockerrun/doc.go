// Package dockerrun runs the chaos suite's cluster as Docker containers: one
// scratch-image container per agent on a bridge network of its own, each at
// a fixed IP, so that faults act on real processes, real kernels' TCP and
// UDP stacks and real data dirs. Kills are SIGKILL, pauses are the cgroup
// freezer and partitions take a container off the network.
//
// Everything a run creates (image, network, containers and their anonymous
// data volumes) carries the run's own name and label, and Close removes it
// by those names, so concurrent runs never touch each other. The test host
// reaches every agent's HTTP API on its bridge IP; no port is published.
//
// Only the plain docker CLI is used, each call bounded by a timeout. The
// image holds one static binary and nothing else, so there is no tc or
// iptables inside: one-way cuts, gossip loss and Raft delay are not
// supported.
//
// With Options.SeedName the agents are run as a Kubernetes StatefulSet runs
// them: they join through one DNS name (a network alias, answered by
// Docker's embedded DNS) and advertise their interface's address, so Stop,
// Move and Restart can bring servers back at new addresses with their data.
package dockerrun
