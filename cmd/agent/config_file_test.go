package main

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/clusteragent/agent/agent"
	"github.com/clusteragent/agent/internal/configfile"
)

const examplePath = "../../config.hcl.example"

func TestExampleParsesToDefaults(t *testing.T) {
	var cfg agent.Config // zero: every default must come from the file
	src, err := loadConfigFile(examplePath, &cfg)
	if err != nil {
		t.Fatal(err)
	}
	if want := agent.DefaultConfig(); !reflect.DeepEqual(cfg, want) {
		t.Errorf("config.hcl.example parses to\n%+v\nwant DefaultConfig()\n%+v", cfg, want)
	}
	for _, k := range configfile.Keys {
		if _, ok := src.lines[k.Name]; !ok {
			t.Errorf("config.hcl.example does not document %s", k.Name)
		}
	}
}

// docKeyRow is a row of docs/configuration.md's key tables: the key in
// backquotes, its default, an example value in backquotes, its meaning.
var docKeyRow = regexp.MustCompile("(?m)^\\| `([a-z0-9_.]+)` \\|[^|]*\\| `([^|]*)` \\|")

// documentedKeys reads docs/configuration.md's key rows: key to example.
func documentedKeys(t *testing.T) map[string]string {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "configuration.md"))
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{}
	for _, m := range docKeyRow.FindAllStringSubmatch(string(doc), -1) {
		if _, dup := rows[m[1]]; dup {
			t.Errorf("docs/configuration.md has two rows for %s", m[1])
		}
		rows[m[1]] = m[2]
	}
	return rows
}

// TestEveryKeyIsDocumented: every key the parser knows has its row in
// docs/configuration.md, and every row there names such a key.
func TestEveryKeyIsDocumented(t *testing.T) {
	rows := documentedKeys(t)
	var missing []string
	for _, k := range configfile.Keys {
		if _, ok := rows[k.Name]; !ok {
			missing = append(missing, k.Name)
		}
	}
	if len(missing) > 0 {
		t.Errorf("docs/configuration.md has no row (| `key` | default | `example` | meaning |) for %d keys: %s", len(missing), strings.Join(missing, ", "))
	}
	for key := range rows {
		if configfile.Lookup(key) == nil {
			t.Errorf("docs/configuration.md documents %q, which is not a key of the config file", key)
		}
	}
}

// TestDocumentedExamplesParse: each key's example in docs/configuration.md
// is a value the parser takes for that key, and not its default, which
// would show nothing.
func TestDocumentedExamplesParse(t *testing.T) {
	for key, example := range documentedKeys(t) {
		src := key + " = " + example + "\n"
		if block, name, ok := strings.Cut(key, "."); ok {
			src = block + " {\n  " + name + " = " + example + "\n}\n"
		}
		cfg := agent.DefaultConfig()
		if _, err := parseConfig([]byte(src), "example.hcl", &cfg); err != nil {
			t.Errorf("%s: example %s: %v", key, example, err)
			continue
		}
		if reflect.DeepEqual(cfg, agent.DefaultConfig()) {
			t.Errorf("%s: example %s is the default", key, example)
		}
	}
}

func TestParseValues(t *testing.T) {
	src := `
node_id = "n-1"
join    = ["10.0.0.1", "seeds.example.internal:7946"]
peers   = { n-1 = "10.0.0.1:7000", "n.2" = "10.0.0.2:7000" }
server  = false
ports {
  gossip = 8301
}
raft {
  snapshot_threshold = 18446744073709551615
}
autopilot {
  dead_server_reap_after = "1m30s"
  min_quorum             = 3
}
`
	cfg := agent.DefaultConfig()
	fsrc, err := parseConfig([]byte(src), "t.hcl", &cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := agent.DefaultConfig()
	want.NodeID = "n-1"
	want.Join = []string{"10.0.0.1", "seeds.example.internal:7946"}
	want.Peers = map[string]string{"n-1": "10.0.0.1:7000", "n.2": "10.0.0.2:7000"}
	want.Server = false
	want.Ports.Gossip = 8301
	want.Raft.SnapshotThreshold = 1<<64 - 1
	want.Autopilot.DeadServerReapAfter = 90 * time.Second
	want.Autopilot.MinQuorum = 3
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("got\n%+v\nwant\n%+v", cfg, want)
	}
	if fsrc.lines["ports.gossip"] != 7 || fsrc.lines["autopilot.min_quorum"] != 14 {
		t.Errorf("lines = %v", fsrc.lines)
	}
}

func TestParseErrors(t *testing.T) {
	cases := map[string]struct {
		src  string
		want string // file:line: key: message fragment
	}{
		"unknown key":         {"bind = \"1.2.3.4\"\nbootstrap_expekt = 3\n", `bad.hcl:2: bootstrap_expekt: unknown key; did you mean "bootstrap_expect"?`},
		"unknown nested key":  {"ports {\n  gossip = 1\n  http = 2\n}\n", "bad.hcl:3: ports.http: unknown key"},
		"unknown block":       {"\nfoo {\n}\n", "bad.hcl:2: foo: unknown block"},
		"nested block":        {"raft {\n  inner {\n  }\n}\n", "bad.hcl:2: raft.inner: unknown block"},
		"block as attribute":  {"ports = { gossip = 1 }\n", "bad.hcl:1: ports: is a block"},
		"attribute as block":  {"zone {\n}\n", "bad.hcl:1: zone: is a single value, not a block"},
		"block labels":        {"http \"x\" {\n}\n", "bad.hcl:1: http: block takes no labels"},
		"duplicate block":     {"tls {\n}\n\ntls {\n}\n", "bad.hcl:4: tls: block given twice (first on line 1)"},
		"string for int":      {"\n\nbootstrap_expect = \"3\"\n", `bad.hcl:3: bootstrap_expect: expected a number, got string "3"`},
		"fraction for int":    {"ports {\n  raft = 1.5\n}\n", "bad.hcl:2: ports.raft: expected a whole number, got 1.5"},
		"negative uint":       {"raft {\n  trailing_logs = -1\n}\n", "bad.hcl:2: raft.trailing_logs: expected a whole number from 0"},
		"number for string":   {"zone = 3\n", "bad.hcl:1: zone: expected a string, got number 3"},
		"string for bool":     {"log_json = \"yes\"\n", `bad.hcl:1: log_json: expected a bool (true or false), got string "yes"`},
		"bad duration":        {"autopilot {\n  dead_server_reap_after = \"30 seconds\"\n}\n", `bad.hcl:2: autopilot.dead_server_reap_after: "30 seconds" is not a duration`},
		"number for duration": {"autopilot {\n  last_contact_threshold = 200\n}\n", "bad.hcl:2: autopilot.last_contact_threshold: expected a duration string"},
		"string for list":     {"join = \"10.0.0.1\"\n", "bad.hcl:1: join: expected a list of strings"},
		"number in list":      {"join = [\"a\", 1]\n", "bad.hcl:1: join: expected a list of strings, found number 1"},
		"null in list":        {"join = [null]\n", "bad.hcl:1: join: expected a list of strings, found null"},
		"list for map":        {"peers = [\"a\"]\n", "bad.hcl:1: peers: expected a map"},
		"number in map":       {"peers = { n1 = 7000 }\n", `bad.hcl:1: peers: value of "n1": expected a string`},
		"null":                {"zone = null\n", "bad.hcl:1: zone: must not be null"},
		"variable":            {"bind = addr\n", "bad.hcl:1: bind: Variables not allowed"},
		"function":            {"bind = upper(\"x\")\n", "bad.hcl:1: bind: Function calls not allowed"},
		"syntax error":        {"bind = \n", "bad.hcl:1: syntax error: Invalid expression"},
		"unclosed block":      {"ports {\n  gossip = 1\n", "bad.hcl:1: syntax error: Unclosed configuration block"},
		"redefined key":       {"zone = \"a\"\nzone = \"b\"\n", "bad.hcl:2: syntax error: Attribute redefined"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			cfg := agent.DefaultConfig()
			_, err := parseConfig([]byte(tc.src), "bad.hcl", &cfg)
			if err == nil {
				t.Fatalf("no error for %q", tc.src)
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("error\n  %s\nwant prefix\n  %s", err, tc.want)
			}
		})
	}
}

func TestLoadConfigFileMissing(t *testing.T) {
	var cfg agent.Config
	_, err := loadConfigFile(filepath.Join(t.TempDir(), "nope.hcl"), &cfg)
	if err == nil || !strings.Contains(err.Error(), "nope.hcl") {
		t.Errorf("error %v does not name the missing file", err)
	}
}

func TestEveryKeyHasAField(t *testing.T) {
	seen := map[any]string{}
	cfg := agent.Config{}
	for _, k := range configfile.Keys {
		p := k.Field(&cfg)
		if prev, dup := seen[p]; dup {
			t.Errorf("%s and %s set the same field", prev, k.Name)
		}
		seen[p] = k.Name
	}
}

func FuzzParseConfig(f *testing.F) {
	example, err := os.ReadFile(examplePath)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(example)
	for _, s := range []string{
		"", "ports {}", "peers = { a = \"b\" }", "join = [\"x\", 1]", "raft { multiplier = 1e400 }",
		"autopilot { min_quorum = 1/0 }", "zone = \"${x}\"", "bind = [for x in [1]: x]", "a = {", "\x00",
		"tls { enable = true }\ntls {}", "x \"y\" \"z\" {}", "node_id = <<EOT\nabc\nEOT\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		cfg := agent.DefaultConfig()
		_, err := parseConfig(src, "fuzz.hcl", &cfg)
		if err != nil && !strings.HasPrefix(err.Error(), "fuzz.hcl") {
			t.Fatalf("error %q does not name the file", err)
		}
	})
}
