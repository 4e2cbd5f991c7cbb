package main

import (
	"context"
	"fmt"
)

func (c *cli) cmdReload(args []string) int {
	cc := c.newClientCmd("agent reload", "[flags]",
		"Makes the agent re-read its TLS CA, certificate and key (tls.ca_file, tls.cert_file,\n"+
			"tls.key_file), as SIGHUP does. All or nothing: when a file does not load, the agent\n"+
			"keeps the current certificate and this command prints the error and exits 1.\n"+
			"Established connections keep their certificate; new ones use the new one.", false)
	_, api, code, ok := c.start(cc, args)
	if !ok {
		return code
	}
	if err := api.Reload(context.Background()); err != nil {
		return c.fail(fmt.Errorf("reload failed: %w", api.check(err)))
	}
	fmt.Fprintf(c.stdout, "The agent at %s reloaded its TLS certificate, key and CA.\n", api.Host())
	return exitOK
}
