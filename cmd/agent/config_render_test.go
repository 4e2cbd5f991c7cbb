package main

import (
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/clusteragent/agent/agent"
	"github.com/clusteragent/agent/internal/configfile"
)

// changeField sets the field ptr points at to a value unlike its current
// one, with the characters HCL must escape in strings.
func changeField(t *testing.T, name string, ptr any) {
	t.Helper()
	switch f := ptr.(type) {
	case *string:
		*f = name + ` "q" \ ${x} %{y}` + "\n\t"
	case *bool:
		*f = !*f
	case *int:
		*f = -(*f + 7)
	case *uint64:
		*f = math.MaxUint64 - *f
	case *time.Duration:
		*f += 1500 * time.Millisecond
	case *[]string:
		*f = []string{name, "${b}", ""}
	case *map[string]string:
		*f = map[string]string{"n1": name, "node two": "${x}", "3": ""}
	default:
		t.Fatalf("%s: no test value for %T", name, ptr)
	}
}

// roundTrip renders cfg against base, parses the file on top of base and
// fails unless that gives cfg back.
func roundTrip(t *testing.T, what string, cfg, base agent.Config, always ...string) []byte {
	t.Helper()
	src, err := configfile.Render(cfg, base, always...)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	got := base
	if _, err := parseConfig(src, "rendered.hcl", &got); err != nil {
		t.Fatalf("%s: rendered file does not parse: %v\n%s", what, err, src)
	}
	if !reflect.DeepEqual(got, cfg) {
		t.Fatalf("%s: render and parse gave\n%+v\nwant\n%+v\nfile:\n%s", what, got, cfg, src)
	}
	return src
}

// TestRenderRoundTripsEveryKey changes one key at a time, renders the
// config, parses it back, and checks it is the same config and the file
// names that key only.
func TestRenderRoundTripsEveryKey(t *testing.T) {
	all := agent.DefaultConfig()
	for _, k := range configfile.Keys {
		cfg := agent.DefaultConfig()
		changeField(t, k.Name, k.Field(&cfg))
		changeField(t, k.Name, k.Field(&all))
		src := roundTrip(t, k.Name, cfg, agent.DefaultConfig())
		base := agent.DefaultConfig()
		set, err := parseConfig(src, "rendered.hcl", &base)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]bool{k.Name: true}
		if block, _, ok := strings.Cut(k.Name, "."); ok {
			want[block] = true
		}
		if len(set.lines) != len(want) || !set.has(k.Name) {
			t.Errorf("%s: want the file to set that key alone, got\n%s", k.Name, src)
		}
	}
	roundTrip(t, "every key changed", all, agent.DefaultConfig())
	roundTrip(t, "every key against a zero base", all, agent.Config{})
	roundTrip(t, "the zero config against the defaults", agent.Config{}, agent.DefaultConfig())
}

// TestRenderAlways spells out keys at their default when asked, and
// refuses a key the schema does not know.
func TestRenderAlways(t *testing.T) {
	src := roundTrip(t, "always", agent.DefaultConfig(), agent.DefaultConfig(), "log_level", "raft.multiplier")
	want := "log_level = \"info\"\n\nraft {\n  multiplier = 1\n}\n"
	if string(src) != want {
		t.Errorf("got\n%s\nwant\n%s", src, want)
	}
	if _, err := configfile.Render(agent.DefaultConfig(), agent.DefaultConfig(), "raft.multipler"); err == nil || !strings.Contains(err.Error(), "raft.multipler") {
		t.Errorf("unknown key: got %v, want an error naming it", err)
	}
}
