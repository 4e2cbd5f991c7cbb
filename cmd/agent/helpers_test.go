package main

import (
	"bytes"
	"strings"
	"testing"
)

// testCLI is a cli with captured output, an empty environment and the
// working directory of the tls commands in a temp dir.
type testCLI struct {
	*cli
	out, errOut *bytes.Buffer
	env         map[string]string
}

func newTestCLI(t *testing.T) *testCLI {
	t.Helper()
	tc := &testCLI{out: &bytes.Buffer{}, errOut: &bytes.Buffer{}, env: map[string]string{}}
	tc.cli = newCLI(strings.NewReader(""), tc.out, tc.errOut)
	tc.getenv = func(k string) string { return tc.env[k] }
	tc.dir = t.TempDir()
	return tc
}

// run runs args and returns the exit code and both outputs, resetting them.
func (tc *testCLI) run(args ...string) (code int, stdout, stderr string) {
	code = tc.dispatch(args)
	stdout, stderr = tc.out.String(), tc.errOut.String()
	tc.out.Reset()
	tc.errOut.Reset()
	return code, stdout, stderr
}

// oneLine checks s is exactly one line of text.
func oneLine(t *testing.T, what, s string) {
	t.Helper()
	if strings.Count(s, "\n") != 1 || !strings.HasSuffix(s, "\n") {
		t.Errorf("%s: want exactly one line, got %q", what, s)
	}
}
