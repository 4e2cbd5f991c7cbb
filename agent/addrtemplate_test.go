package agent

import (
	"errors"
	"net"
	"slices"
	"strings"
	"testing"

	sockaddr "github.com/hashicorp/go-sockaddr"
)

// fakeEnv pretends a host with these interface addresses ("eth0=10.0.0.1/8")
// and this default-route interface ("" for none).
func fakeEnv(t *testing.T, defaultIface string, addrs ...string) netEnv {
	t.Helper()
	var ifs sockaddr.IfAddrs
	for _, a := range addrs {
		name, cidr, _ := strings.Cut(a, "=")
		ip, err := sockaddr.NewIPAddr(cidr)
		if err != nil {
			t.Fatal(err)
		}
		ifs = append(ifs, sockaddr.IfAddr{SockAddr: ip, Interface: net.Interface{Name: name, Flags: net.FlagUp}})
	}
	return netEnv{
		interfaces: func() (sockaddr.IfAddrs, error) { return ifs, nil },
		defaultIface: func() (string, error) {
			if defaultIface == "" {
				return "", errors.New("no IPv4 default route")
			}
			return defaultIface, nil
		},
	}
}

func TestResolveIPSetting(t *testing.T) {
	host := systemNetEnv()
	twoPrivate := fakeEnv(t, "eth1", "eth0=10.0.0.1/8", "eth1=192.168.1.5/24", "eth1=93.184.216.34/24")
	noRoute := fakeEnv(t, "", "eth0=10.0.0.1/8", "eth1=192.168.1.5/24")
	cases := map[string]struct {
		env     netEnv
		in      string
		want    string
		wantErr string // substring; "" means success
	}{
		"literal":             {env: host, in: "10.1.2.3", want: "10.1.2.3"},
		"interface lo":        {env: host, in: `{{ GetInterfaceIP "lo" }}`, want: "127.0.0.1"},
		"interface routable":  {env: fakeEnv(t, "", "eth0=fe80::1/64", "eth0=fd00::5/64", "eth0=10.0.0.5/8"), in: `{{ GetInterfaceIP "eth0" }}`, want: "10.0.0.5"},
		"interface missing":   {env: host, in: `{{ GetInterfaceIP "no-such-if0" }}`, wantErr: "matched no address"},
		"loopback network":    {env: host, in: `{{ GetAllInterfaces | include "network" "127.0.0.0/8" | attr "address" }}`, want: "127.0.0.1"},
		"syntax error":        {env: host, in: `{{ GetInterfaceIP "lo" `, wantErr: `bind: template "{{ GetInterfaceIP \"lo\" "`},
		"unknown function":    {env: host, in: `{{ GetNothing }}`, wantErr: `function "GetNothing" not defined`},
		"no match":            {env: host, in: `{{ GetAllInterfaces | include "network" "203.0.113.0/24" | attr "address" }}`, wantErr: "matched no address"},
		"several":             {env: twoPrivate, in: `{{ GetAllInterfaces | include "rfc" "1918" | join "address" " " }}`, wantErr: "more than one address: 10.0.0.1 192.168.1.5; narrow the template"},
		"not an ip":           {env: host, in: `{{ "eth0" }}`, wantErr: `yielded "eth0", which is not an IP address`},
		"private network":     {env: twoPrivate, in: `{{ GetPrivateInterfaces | include "network" "10.0.0.0/8" | attr "address" }}`, want: "10.0.0.1"},
		"private ip default":  {env: twoPrivate, in: `{{ GetPrivateIP }}`, want: "192.168.1.5"},
		"public ip":           {env: twoPrivate, in: `{{ GetPublicIP }}`, want: "93.184.216.34"},
		"default interfaces":  {env: twoPrivate, in: `{{ GetDefaultInterfaces | include "rfc" "1918" | attr "address" }}`, want: "192.168.1.5"},
		"no default route":    {env: noRoute, in: `{{ GetDefaultInterfaces | attr "address" }}`, wantErr: "no IPv4 default route"},
		"sort default":        {env: twoPrivate, in: `{{ GetAllInterfaces | include "rfc" "1918" | sort "default,address" | limit 1 | attr "address" }}`, want: "192.168.1.5"},
		"sort minus default":  {env: twoPrivate, in: `{{ GetAllInterfaces | include "rfc" "1918" | sort "-default" | limit 1 | attr "address" }}`, want: "10.0.0.1"},
		"sort without route":  {env: noRoute, in: `{{ GetAllInterfaces | sort "+default,-address" | limit 1 | attr "address" }}`, want: "192.168.1.5"},
		"sort unknown clause": {env: twoPrivate, in: `{{ GetAllInterfaces | sort "default,colour" | attr "address" }}`, wantErr: `unknown sort type: "colour"`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := resolveIPSetting("bind", tc.in, tc.env)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("resolveIPSetting(%s) = %q, %v; want an error containing %q", tc.in, got, err, tc.wantErr)
				}
				var ce *ConfigError
				if !errors.As(err, &ce) || ce.Key != "bind" {
					t.Errorf("error %v does not name the key bind", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("resolveIPSetting(%s) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestResolveAddressesJoinTemplates(t *testing.T) {
	env := fakeEnv(t, "eth0", "eth0=10.0.0.1/8", "eth0=10.0.0.2/8")
	c := Config{Bind: `{{ GetInterfaceIP "eth0" }}`, Join: []string{
		"seeds.example:8000",
		`{{ GetAllInterfaces | include "network" "10.0.0.0/8" | join "address" " " }}`,
	}}
	got, err := c.resolveAddresses(env)
	if err != nil {
		t.Fatal(err)
	}
	if got.Bind != "10.0.0.1" || !slices.Equal(got.Join, []string{"seeds.example:8000", "10.0.0.1", "10.0.0.2"}) {
		t.Errorf("resolved bind %q, join %q", got.Bind, got.Join)
	}
	c.Join = []string{`{{ GetAllInterfaces | include "network" "172.16.0.0/12" | join "address" " " }}`}
	if _, err := c.resolveAddresses(env); err == nil || !strings.Contains(err.Error(), "join: template") {
		t.Errorf("a join template matching nothing: %v, want a join error naming the template", err)
	}
	c.Join = nil
	c.Advertise = `{{ "0.0.0.0" }}`
	if _, err := c.resolveAddresses(env); err == nil || !strings.Contains(err.Error(), "advertise:") {
		t.Errorf("advertise template yielding 0.0.0.0: %v, want an advertise error", err)
	}
}

func TestValidateAddressTemplates(t *testing.T) {
	cases := map[string]struct {
		mod     func(*Config)
		wantKey string
	}{
		"bind template":        {mod: func(c *Config) { c.Bind = `{{ GetInterfaceIP "lo" }}` }},
		"advertise template":   {mod: func(c *Config) { c.Advertise = `{{ GetPrivateIP }}` }},
		"join srv":             {mod: func(c *Config) { c.Join = []string{"srv+_agent._tcp.example"} }},
		"bind syntax":          {mod: func(c *Config) { c.Bind = `{{ GetInterfaceIP "lo" ` }, wantKey: "bind"},
		"bind not ip":          {mod: func(c *Config) { c.Bind = "eth0" }, wantKey: "bind"},
		"advertise unknown fn": {mod: func(c *Config) { c.Advertise = `{{ Nope }}` }, wantKey: "advertise"},
		"join bad seed":        {mod: func(c *Config) { c.Join = []string{"srv+a:1"} }, wantKey: "join"},
		"join bad template":    {mod: func(c *Config) { c.Join = []string{"{{ GetAllInterfaces "} }, wantKey: "join"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c := DefaultConfig()
			tc.mod(&c)
			err := c.Validate()
			var ce *ConfigError
			switch {
			case tc.wantKey == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tc.wantKey != "" && (!errors.As(err, &ce) || ce.Key != tc.wantKey):
				t.Fatalf("Validate = %v, want an error for %s", err, tc.wantKey)
			}
		})
	}
}

func TestParseDefaultRoute(t *testing.T) {
	const header = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
	cases := map[string]struct {
		table, want string
	}{
		"one":           {table: "eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\ndocker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n", want: "eth0"},
		"lowest metric": {table: "wlan0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0\neth0\t00000000\t010200C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n", want: "eth0"},
		"down skipped":  {table: "eth1\t00000000\t010200C0\t0002\t0\t0\t0\t00000000\t0\t0\t0\neth0\t00000000\t010200C0\t0003\t0\t0\t50\t00000000\t0\t0\t0\n", want: "eth0"},
		"none":          {table: "eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"},
		"garbage":       {table: "eth0 zz\nshort\n"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := parseDefaultRoute(strings.NewReader(header + tc.table))
			if got != tc.want || (tc.want == "") != (err != nil) {
				t.Errorf("parseDefaultRoute = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestChooseAdvertise(t *testing.T) {
	eth0 := advertiseCandidate{ip: "10.0.0.5", iface: "eth0"}
	docker := advertiseCandidate{ip: "172.17.0.1", iface: "docker0"}
	eth0b := advertiseCandidate{ip: "10.0.0.6", iface: "eth0"}
	cases := map[string]struct {
		cands   []advertiseCandidate
		def     string
		want    string
		wantErr string
	}{
		"none":                  {wantErr: "no private IPv4 address"},
		"one":                   {cands: []advertiseCandidate{docker}, want: "172.17.0.1"},
		"one without a route":   {cands: []advertiseCandidate{eth0}, def: "", want: "10.0.0.5"},
		"default route decides": {cands: []advertiseCandidate{docker, eth0}, def: "eth0", want: "10.0.0.5"},
		"no default route":      {cands: []advertiseCandidate{docker, eth0}, wantErr: "more than one private IPv4 address: 172.17.0.1 (docker0) 10.0.0.5 (eth0); and no default route"},
		"two on default":        {cands: []advertiseCandidate{eth0, eth0b, docker}, def: "eth0", wantErr: "10.0.0.5 (eth0) 10.0.0.6 (eth0) 172.17.0.1 (docker0); none is alone on the default-route interface eth0"},
		"default elsewhere":     {cands: []advertiseCandidate{eth0, docker}, def: "wlan0", wantErr: "more than one"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := chooseAdvertise(tc.cands, tc.def)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("chooseAdvertise = %q, %v; want an error containing %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("chooseAdvertise = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestDefaultAdvertiseSkipsLoopbackAndDown(t *testing.T) {
	env := fakeEnv(t, "", "lo=127.0.0.1/8", "eth0=10.0.0.5/8", "eth0=fd00::5/64", "eth0=169.254.1.1/16")
	if got, err := defaultAdvertise(env); err != nil || got != "10.0.0.5" {
		t.Errorf("defaultAdvertise = %q, %v; want 10.0.0.5 (loopback, IPv6 and link-local are no candidates)", got, err)
	}
}
