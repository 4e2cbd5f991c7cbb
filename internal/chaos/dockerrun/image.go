package dockerrun

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/clusteragent/agent/internal/buildagent"
)

// modulePath is the agent's module; the build refuses any other go.mod.
const modulePath = "github.com/clusteragent/agent"

// imageLabel marks every image BuildImage makes, with the build's own ID as
// value, so a leftover of a killed run can be found.
const imageLabel = "io.clusteragent.chaos.image"

// dockerfile mirrors the repository's Dockerfile (scratch, the static binary
// as /agent, /data and /tmp owned by 65532, run as 65532:65532) in one
// stage. The repository's file makes its directories in a second stage,
// whose images the classic builder keeps as dangling cache after the tagged
// image is removed; here the empty directories come from the build context
// instead, so removing the tag removes everything the build made.
const dockerfile = `FROM scratch
COPY --chown=65532:65532 rootfs/ /
COPY bin/agent /agent
USER 65532:65532
WORKDIR /data
VOLUME ["/data"]
EXPOSE 7000/tcp 7070/tcp 7946/tcp 7946/udp
ENTRYPOINT ["/agent"]
CMD ["run", "-bind", "0.0.0.0", "-data-dir", "/data", "-http-addr", "0.0.0.0:7070"]
`

// BuildOptions says how to build the agent image.
type BuildOptions struct {
	// Tags is passed to go build -tags ("chaos_bite_stalereads"); empty
	// builds the production binary.
	Tags string
	// ModuleRoot is the agent module's root directory. Empty: found with
	// go env GOMOD from the working directory, which is inside the module
	// whenever go test runs a package of it.
	ModuleRoot string
	// Logf reports progress; nil is silent.
	Logf func(format string, args ...any)
}

// BuildImage compiles a static agent (CGO_ENABLED=0, -trimpath, opts.Tags)
// and builds a scratch image around it under a tag of its own. remove
// deletes the image; it is idempotent, and tolerates the image being gone
// already. Build once and pass the image to several Start calls through
// Options.Image to save the build per cluster.
func BuildImage(ctx context.Context, opts BuildOptions) (image string, remove func() error, err error) {
	logf := orNop(opts.Logf)
	root, err := moduleRoot(ctx, opts.ModuleRoot)
	if err != nil {
		return "", nil, err
	}
	id, err := randomID()
	if err != nil {
		return "", nil, err
	}
	dir, err := os.MkdirTemp("", "chaos-image-"+id+"-")
	if err != nil {
		return "", nil, fmt.Errorf("build context: %w", err)
	}
	// The context is only read by docker build; the image keeps its own copy.
	defer os.RemoveAll(dir)
	if err := writeBuildContext(dir); err != nil {
		return "", nil, err
	}

	logf("dockerrun: building the agent (tags %q) in %s", opts.Tags, root)
	bctx, cancel := context.WithTimeout(ctx, goBuildTimeout)
	err = buildagent.Binary(bctx, root, filepath.Join(dir, "bin", "agent"), opts.Tags)
	cancel()
	if err != nil {
		return "", nil, fmt.Errorf("building the agent: %w", err)
	}

	tag := "clusteragent/agent:chaos-" + id
	var once sync.Once
	var removeErr error
	remove = func() error {
		once.Do(func() {
			// A fresh context: removal runs in cleanups, after the caller's is gone.
			_, err := docker(context.Background(), imageTimeout, "image", "rm", tag)
			if err != nil && !saidAny(err, "no such image") {
				removeErr = fmt.Errorf("removing image %s: %w", tag, err)
			}
		})
		return removeErr
	}
	logf("dockerrun: docker build -t %s", tag)
	if _, err := docker(ctx, imageTimeout, "build", "-q", "--label", imageLabel+"="+id, "-t", tag, dir); err != nil {
		// A build that failed after tagging is unlikely, but leave nothing behind.
		return "", nil, errors.Join(fmt.Errorf("building image %s: %w", tag, err), remove())
	}
	return tag, remove, nil
}

// writeBuildContext lays out dir as the image's build context: the
// Dockerfile, an empty bin/ for the binary and the image's empty directories.
func writeBuildContext(dir string) error {
	for _, d := range []string{"bin", "rootfs/data", "rootfs/tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return fmt.Errorf("build context: %w", err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		return fmt.Errorf("build context: %w", err)
	}
	return nil
}

// moduleRoot returns dir, or the root of the module the working directory
// is in, after checking it is the agent's module.
func moduleRoot(ctx context.Context, dir string) (string, error) {
	if dir == "" {
		pctx, cancel := context.WithTimeout(ctx, probeTimeout)
		root, err := buildagent.ModuleRoot(pctx)
		cancel()
		if err != nil {
			return "", fmt.Errorf("finding the module root (or set ModuleRoot): %w", err)
		}
		dir = root
	}
	data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return "", fmt.Errorf("module root %s: %w", dir, err)
	}
	if got := modulePathOf(data); got != modulePath {
		return "", fmt.Errorf("module root %s holds module %q, want %q", dir, got, modulePath)
	}
	return dir, nil
}

// modulePathOf returns the path of go.mod's module directive.
func modulePathOf(gomod []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(gomod))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == "module" {
			return strings.Trim(f[1], `"`)
		}
	}
	return ""
}

func orNop(logf func(string, ...any)) func(string, ...any) {
	if logf == nil {
		return func(string, ...any) {}
	}
	return logf
}
