package httpapi

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// routePattern finds the method patterns this package registers.
var routePattern = regexp.MustCompile(`"((?:GET|PUT|POST|DELETE) /[^"]*)"`)

// TestEveryRouteIsDocumented: each route registered in this package's code
// appears in docs/http-api.md ("{key...}" written as "{key}"; a pattern
// built by concatenation, as the keyring's, must appear as a prefix).
func TestEveryRouteIsDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "http-api.md"))
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range routePattern.FindAllStringSubmatch(string(src), -1) {
			route := strings.ReplaceAll(m[1], "{key...}", "{key}")
			seen++
			if !strings.Contains(string(doc), "`"+route) {
				t.Errorf("%s registers %q, which docs/http-api.md does not list", f, route)
			}
		}
	}
	if seen < 20 {
		t.Fatalf("found only %d routes in the code; the pattern no longer matches how routes are registered", seen)
	}
	for _, op := range []string{KeyringInstall, KeyringUse, KeyringRemove} {
		if !strings.Contains(string(doc), "`POST /v1/agent/keyring/"+op+"`") {
			t.Errorf("docs/http-api.md does not list POST /v1/agent/keyring/%s", op)
		}
	}
}
