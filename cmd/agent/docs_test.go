package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEveryCommandIsDocumented: each command of the tree appears in
// docs/cli.md.
func TestEveryCommandIsDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "cli.md"))
	if err != nil {
		t.Fatal(err)
	}
	var walk func(path string, cs []*command)
	walk = func(path string, cs []*command) {
		for _, c := range cs {
			p := path + " " + c.name
			if c.subs != nil {
				walk(p, c.subs)
				continue
			}
			if !strings.Contains(string(doc), "`"+p+"`") {
				t.Errorf("docs/cli.md does not list %q", p)
			}
		}
	}
	walk("agent", commands())
}
