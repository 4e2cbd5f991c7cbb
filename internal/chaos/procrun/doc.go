// Package procrun runs a chaos-suite cluster as real OS processes of the
// built agent binary on loopback, and injects the faults a process can
// suffer: kill -9, SIGSTOP/SIGCONT, restarts, and new servers joining.
// Processes are started, paused and killed by bench/proc, the module's one
// process harness; this package adds the config files and the faults.
//
// Network faults (partitions, cuts, loss, delay) need a network the runner
// controls, which loopback processes do not have; Cluster reports them as
// chaos.ErrUnsupported and leaves them to the Docker runner.
//
// Every node keeps its ports, config file and data dir for the life of the
// cluster, so a restarted process is the same node to its peers. All files
// live under Options.Dir, which the caller owns: the config and data dir of
// node n1 in Dir/n1/, its output (stdout and stderr, appended across
// restarts) in Dir/n1.log.
package procrun
