package discovery

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

func TestValidate(t *testing.T) {
	cases := map[string]struct {
		mod   func(*Config)
		field string // "" means valid
	}{
		"defaults":           {func(*Config) {}, ""},
		"zero values":        {func(c *Config) { *c = Config{NodeID: "n"} }, ""},
		"loopback":           {func(c *Config) { *c = LoopbackConfig(); c.NodeID = "n" }, ""},
		"no node id":         {func(c *Config) { c.NodeID = "" }, "NodeID"},
		"space in node id":   {func(c *Config) { c.NodeID = "a b" }, "NodeID"},
		"long node id":       {func(c *Config) { c.NodeID = strings.Repeat("n", 129) }, "NodeID"},
		"bad bind":           {func(c *Config) { c.BindAddr = "localhost" }, "BindAddr"},
		"bad advertise":      {func(c *Config) { c.AdvertiseAddr = "example.com" }, "AdvertiseAddr"},
		"bind port":          {func(c *Config) { c.BindPort = 70000 }, "BindPort"},
		"advertise port":     {func(c *Config) { c.AdvertisePort = -1 }, "AdvertisePort"},
		"profile":            {func(c *Config) { c.Profile = "fast" }, "Profile"},
		"empty seed":         {func(c *Config) { c.Seeds = []string{"10.0.0.1", ""} }, "Seeds[1]"},
		"seed port":          {func(c *Config) { c.Seeds = []string{"host:0"} }, "Seeds[0]"},
		"seed name":          {func(c *Config) { c.Seeds = []string{"bad host:1"} }, "Seeds[0]"},
		"key length":         {func(c *Config) { c.SecretKey = make([]byte, 10) }, "SecretKey"},
		"event buffer":       {func(c *Config) { c.EventBuffer = -1 }, "EventBuffer"},
		"backoff order":      {func(c *Config) { c.JoinBackoffMin = time.Minute }, "JoinBackoffMin"},
		"negative rejoin":    {func(c *Config) { c.RejoinInterval = -time.Second }, "RejoinInterval"},
		"negative probe":     {func(c *Config) { c.ProbeInterval = -1 }, "ProbeInterval"},
		"negative suspicion": {func(c *Config) { c.SuspicionMult = -1 }, "SuspicionMult"},
		"long zone":          {func(c *Config) { c.Meta.Zone = strings.Repeat("z", 65) }, "Meta.Zone"},
		"bad role":           {func(c *Config) { c.Meta.Role = "leader" }, "Meta.Role"},
		"meta too large": {func(c *Config) {
			c.NodeID = strings.Repeat("n", 128)
			c.Meta = Meta{ClusterID: strings.Repeat("c", 64), RaftAddr: strings.Repeat("r", 120) + ":1",
				HTTPAddr: strings.Repeat("h", 120) + ":1", Zone: strings.Repeat("z", 64), Version: strings.Repeat("v", 64)}
		}, "Meta"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c := DefaultConfig()
			c.NodeID = "node-1"
			tc.mod(&c)
			err := c.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), ": "+tc.field+" ") {
				t.Fatalf("Validate = %v, want ErrInvalidConfig naming %s", err, tc.field)
			}
			if _, nerr := New(c); !errors.Is(nerr, ErrInvalidConfig) {
				t.Errorf("New accepted an invalid config: %v", nerr)
			}
		})
	}
}

func TestMemberlistConfigProfiles(t *testing.T) {
	lan := memberlist.DefaultLANConfig()
	lan.ProbeInterval, lan.ProbeTimeout = lanProbeInterval, lanProbeTimeout
	lan.SuspicionMult, lan.GossipInterval, lan.GossipNodes = lanSuspicionMult, lanGossipInterval, lanGossipNodes
	// Compression costs CPU for bandwidth a LAN or loopback has plenty of.
	lan.EnableCompression = false
	local := memberlist.DefaultLocalConfig()
	local.EnableCompression = false
	for profile, want := range map[string]*memberlist.Config{
		ProfileLAN:   lan,
		ProfileWAN:   memberlist.DefaultWANConfig(),
		ProfileLocal: local,
	} {
		c := Config{NodeID: "n", Profile: profile}.withDefaults()
		mc, err := c.memberlistConfig()
		if err != nil {
			t.Fatal(err)
		}
		if mc.ProbeInterval != want.ProbeInterval || mc.ProbeTimeout != want.ProbeTimeout || mc.SuspicionMult != want.SuspicionMult ||
			mc.GossipInterval != want.GossipInterval || mc.GossipNodes != want.GossipNodes || mc.TCPTimeout != want.TCPTimeout ||
			mc.EnableCompression != want.EnableCompression {
			t.Errorf("%s: probe %v/%v suspicion %d gossip %v to %d tcp %v compression %v, want the profile's", profile,
				mc.ProbeInterval, mc.ProbeTimeout, mc.SuspicionMult, mc.GossipInterval, mc.GossipNodes, mc.TCPTimeout, mc.EnableCompression)
		}
		if mc.Name != "n" || mc.Keyring != nil || mc.DeadNodeReclaimTime != defaultDeadNodeReclaimTime {
			t.Errorf("%s: name %q keyring %v reclaim %v", profile, mc.Name, mc.Keyring, mc.DeadNodeReclaimTime)
		}
	}

	c := LoopbackConfig()
	c.NodeID = "n"
	c.BindPort = 8000
	c.SecretKey = make([]byte, 32)
	c.DeadNodeReclaimTime = -1
	mc, err := c.withDefaults().memberlistConfig()
	if err != nil {
		t.Fatal(err)
	}
	if mc.ProbeInterval != c.ProbeInterval || mc.ProbeTimeout != c.ProbeTimeout || mc.GossipInterval != c.GossipInterval ||
		mc.PushPullInterval != c.PushPullInterval || mc.SuspicionMult != c.SuspicionMult || mc.GossipToTheDeadTime != c.GossipToTheDeadTime {
		t.Errorf("overrides not applied: %+v", mc)
	}
	if mc.AdvertisePort != 8000 {
		t.Errorf("AdvertisePort = %d, want the bind port", mc.AdvertisePort)
	}
	if mc.Keyring == nil || !mc.GossipVerifyIncoming || !mc.GossipVerifyOutgoing {
		t.Error("secret key did not enable the keyring and verification")
	}
	if mc.DeadNodeReclaimTime != 0 {
		t.Errorf("negative DeadNodeReclaimTime gave %v, want disabled", mc.DeadNodeReclaimTime)
	}
}
