package dockerrun

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/clusteragent/agent/api"
	"github.com/clusteragent/agent/internal/chaos"
)

// runLabel marks the network and every container of a run, with the run's
// ID as value.
const runLabel = "io.clusteragent.chaos.run"

// Cluster is a cluster of agents in Docker containers. It implements
// chaos.Cluster; see there for what each method promises.
type Cluster struct {
	opts        Options
	id          string // the run's random ID
	prefix      string // network name, and the containers' name prefix
	image       string
	removeImage func() error // nil when Options.Image was given
	dir         string       // the config files
	client      *http.Client

	// Set once the network exists: Close only removes what was created.
	subnet     netip.Prefix
	netCreated bool
	moves      int // addresses Move has handed out; guarded by mu

	mu         sync.Mutex // guards nodes, order, containers and apis: URL and Nodes run alongside the rest
	nodes      map[string]*node
	order      []string
	containers []string               // every container a docker run was attempted for
	apis       map[string]*api.Client // by URL, over client: Move changes a node's URL

	// Fault state, touched by the nemesis goroutine only.
	stopped      map[string]bool // killed and not restarted
	paused       map[string]bool
	disconnected map[string]bool // partitioned off the network

	closeOnce sync.Once
	closeErr  error
}

// node is one agent's container.
type node struct {
	id        string
	ip        netip.Addr
	container string
}

var _ chaos.Cluster = (*Cluster)(nil)

// Start builds the image unless opts.Image names one, creates the run's
// network, starts opts.Servers agents with bootstrap_expect = Servers
// joining through n1, and returns once every one of them is a voter under
// one leader. On error everything created so far is removed again.
func Start(ctx context.Context, opts Options) (_ *Cluster, err error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	id, err := randomID()
	if err != nil {
		return nil, err
	}
	c := &Cluster{
		opts:         o,
		id:           id,
		prefix:       "chaos-" + id,
		image:        o.Image,
		client:       &http.Client{Timeout: 2 * time.Second},
		nodes:        map[string]*node{},
		stopped:      map[string]bool{},
		paused:       map[string]bool{},
		disconnected: map[string]bool{},
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, c.Close())
		}
	}()
	start := time.Now()
	if c.image == "" {
		c.image, c.removeImage, err = BuildImage(ctx, BuildOptions{Tags: o.BuildTags, ModuleRoot: o.ModuleRoot, Logf: o.Logf})
		if err != nil {
			return nil, err
		}
		o.Logf("dockerrun: image %s built in %s", c.image, since(start))
	}
	if c.dir, err = os.MkdirTemp("", c.prefix+"-"); err != nil {
		return nil, fmt.Errorf("dockerrun: config dir: %w", err)
	}
	// MkdirTemp makes it 0700; the daemon may not run as this user.
	if err := os.Chmod(c.dir, 0o755); err != nil {
		return nil, fmt.Errorf("dockerrun: config dir: %w", err)
	}
	if c.subnet, err = createNetwork(ctx, c.prefix, c.labelArg(), o.Logf); err != nil {
		return nil, err
	}
	c.netCreated = true

	seed, err := nodeIP(c.subnet, 1)
	if err != nil {
		return nil, err
	}
	ids := make([]string, o.Servers)
	for k := 1; k <= o.Servers; k++ {
		ip, err := nodeIP(c.subnet, k)
		if err != nil {
			return nil, err
		}
		ids[k-1] = "n" + strconv.Itoa(k)
		nc := nodeConfig{ID: ids[k-1], IP: ip.String(), Join: []string{seed.String()}, BootstrapExpect: o.Servers}
		if err := c.startNode(ctx, nc, ip); err != nil {
			return nil, err
		}
	}
	o.Logf("dockerrun: %d servers started after %s", o.Servers, since(start))

	fctx, cancel := context.WithTimeout(ctx, o.FormTimeout)
	defer cancel()
	if err := c.waitFormed(fctx, ids); err != nil {
		return nil, err
	}
	o.Logf("dockerrun: %d voters and a leader after %s", o.Servers, since(start))
	return c, nil
}

// startNode writes nc's config and runs its container at ip.
func (c *Cluster) startNode(ctx context.Context, nc nodeConfig, ip netip.Addr) error {
	path, err := writeConfig(c.dir, &c.opts, nc)
	if err != nil {
		return err
	}
	n := &node{id: nc.ID, ip: ip, container: c.prefix + "-" + nc.ID}
	c.mu.Lock()
	// Recorded before the run: a run that fails half-way may leave a container.
	c.containers = append(c.containers, n.container)
	c.mu.Unlock()
	args := []string{"run", "--detach", "--pull", "never",
		"--name", n.container, "--hostname", nc.ID,
		"--label", c.labelArg(),
		"--network", c.prefix, "--ip", ip.String()}
	if c.opts.SeedName != "" {
		// Docker's embedded DNS answers the alias with every running
		// container that has it, ready or not, as a headless service with
		// publishNotReadyAddresses does.
		args = append(args, "--network-alias", c.opts.SeedName)
	}
	_, err = docker(ctx, dockerTimeout, append(args,
		// docker logs needs a driver it can read back; json-file is the usual default.
		"--log-driver", "json-file", "--log-opt", "max-size=64m",
		"--volume", path+":"+configPath+":ro",
		c.image, "run", "-config", configPath)...)
	if err != nil {
		return fmt.Errorf("dockerrun: starting %s: %w", nc.ID, err)
	}
	c.mu.Lock()
	c.nodes[nc.ID] = n
	c.order = append(c.order, nc.ID)
	c.mu.Unlock()
	c.opts.Logf("dockerrun: %s running at %s as %s", nc.ID, ip, n.container)
	return nil
}

// Name is "docker".
func (c *Cluster) Name() string { return "docker" }

// Supports lists the faults Docker can inject without tools inside the
// image: kills, pauses and whole-node partitions.
func (c *Cluster) Supports() []chaos.FaultKind {
	return []chaos.FaultKind{
		chaos.KillLeader, chaos.KillFollower, chaos.PauseLeader,
		chaos.PartitionLeader, chaos.PartitionFollower,
		chaos.Churn, chaos.FullRestart, chaos.MassRestart,
	}
}

// Nodes returns every node started, in the order they were added.
func (c *Cluster) Nodes() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.order...)
}

// URL is node's HTTP API on its bridge address, or "" for an unknown node.
func (c *Cluster) URL(node string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.nodes[node]
	if !ok {
		return ""
	}
	return "http://" + netip.AddrPortFrom(n.ip, httpPort).String()
}

// Settings are the autopilot settings every agent's config file carries.
func (c *Cluster) Settings() chaos.AutopilotSettings {
	return chaos.AutopilotSettings{
		MaxVoters:           c.opts.MaxVoters,
		MinQuorum:           c.opts.MinQuorum,
		DeadServerReapAfter: c.opts.DeadServerReapAfter,
	}
}

// Label is the "key=value" label on the run's network and containers, for
// docker ps --filter label=... and docker network ls --filter label=....
func (c *Cluster) Label() string { return c.labelArg() }

// Network is the name of the run's bridge network.
func (c *Cluster) Network() string { return c.prefix }

// Image is the image the agents run.
func (c *Cluster) Image() string { return c.image }

// Container is the name of node's container, or "" for an unknown node.
func (c *Cluster) Container(node string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n, ok := c.nodes[node]; ok {
		return n.container
	}
	return ""
}

func (c *Cluster) labelArg() string { return runLabel + "=" + c.id }

// node returns the named node or an error naming it.
func (c *Cluster) node(id string) (*node, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.nodes[id]
	if !ok {
		return nil, fmt.Errorf("dockerrun: unknown node %q", id)
	}
	return n, nil
}

func since(t time.Time) time.Duration { return time.Since(t).Round(time.Millisecond) }
