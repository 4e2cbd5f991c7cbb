package dockerrun

import (
	"slices"
	"strings"
	"testing"
)

// TestStartBuildsImage starts a one-server cluster without an image: Start
// builds one, and Close removes it with the rest.
func TestStartBuildsImage(t *testing.T) {
	requireDocker(t)
	c, err := Start(t.Context(), Options{Servers: 1, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	image := c.Image()
	if !strings.HasPrefix(image, "clusteragent/agent:chaos-") {
		t.Fatalf("Image = %q", image)
	}
	if s := c.Settings(); s.MaxVoters != 1 || s.MinQuorum != 1 {
		t.Fatalf("Settings = %+v", s)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	checkNothingLeft(t, c, nil)
	if out := dockerOut(t, "images", "--all", "--quiet", "--filter", "reference="+image); out != "" {
		t.Fatalf("Close left the image it built: %s", out)
	}
}

// TestStartCleansUpAfterFailure makes Start fail after its network exists
// (the image is missing and never pulled) and checks nothing of it is left.
func TestStartCleansUpAfterFailure(t *testing.T) {
	requireDocker(t)
	before := runResources(t)
	id, err := randomID()
	if err != nil {
		t.Fatal(err)
	}
	c, err := Start(t.Context(), Options{Image: "clusteragent/agent:chaos-missing-" + id, Logf: t.Logf})
	if err == nil {
		_ = c.Close()
		t.Fatal("Start succeeded with a missing image")
	}
	if !strings.Contains(err.Error(), "docker run") || !strings.Contains(strings.ToLower(err.Error()), "no such image") {
		t.Fatalf("error does not name the command and the cause: %v", err)
	}
	if after := runResources(t); !slices.Equal(after, before) {
		t.Fatalf("chaos containers and networks before Start %v, after its failure %v", before, after)
	}
}

// runResources lists every container and network carrying a run label, of
// any run.
func runResources(t *testing.T) []string {
	t.Helper()
	out := dockerOut(t, "ps", "--all", "--quiet", "--filter", "label="+runLabel) + " " +
		dockerOut(t, "network", "ls", "--quiet", "--filter", "label="+runLabel)
	ids := strings.Fields(out)
	slices.Sort(ids)
	return ids
}

func dockerOut(t *testing.T, args ...string) string {
	t.Helper()
	out, err := docker(t.Context(), probeTimeout, args...)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(out)
}
