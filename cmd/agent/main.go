// Command agent runs a cluster agent (agent run) and talks to a running one
// over its HTTP API (members, raft, autopilot, leave), and makes keys and
// certificates (keygen, tls).
package main

import (
	"io"
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run is the whole program behind main, so tests can drive it: it returns
// the exit code (0 ok, 1 failure, 2 usage error) instead of exiting.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return newCLI(stdin, stdout, stderr).dispatch(args)
}
