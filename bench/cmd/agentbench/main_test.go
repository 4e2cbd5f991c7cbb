package main

import (
	"strings"
	"testing"
	"time"
)

func TestAutopilotBlockAndNotes(t *testing.T) {
	o := options{membership: true}
	if b := o.autopilotBlock(); b != "" {
		t.Errorf("defaults: autopilot block %q, want none", b)
	}
	if n := o.notes(); len(n) != 1 || !strings.Contains(n[0], "defaults") {
		t.Errorf("defaults: notes %q", n)
	}
	o.stabilization, o.reapAfter = 2*time.Second, 3*time.Second
	b := o.autopilotBlock()
	for _, want := range []string{`server_stabilization_time = "2s"`, `dead_server_reap_after = "3s"`} {
		if !strings.Contains(b, want) {
			t.Errorf("autopilot block lacks %q:\n%s", want, b)
		}
	}
	if n := o.notes(); len(n) != 2 {
		t.Errorf("overrides: notes %q, want two", n)
	}
}
