package procrun

import "github.com/clusteragent/agent/bench/proc"

// startProcess runs `binary run -config configPath` through the module's
// process harness, stdout and stderr appended to logPath: a node has a new
// process after each restart. logf hears about an exit the runner did not
// cause.
func startProcess(binary, configPath, logPath, node string, logf func(string, ...any)) (*proc.Process, error) {
	return proc.StartSpec(proc.Spec{
		Name:    node,
		Binary:  binary,
		Args:    []string{"run", "-config", configPath},
		LogPath: logPath,
		OnExit: func(err error, killed bool) {
			if !killed {
				logf("procrun: %s exited on its own: %v", node, err)
			}
		},
	})
}
