package agent

import (
	"maps"
	"net"
	"strings"
	"text/template"

	sockaddr "github.com/hashicorp/go-sockaddr"
	socktmpl "github.com/hashicorp/go-sockaddr/template"

	"github.com/clusteragent/agent/discovery"
)

// isAddrTemplate reports whether an address setting is a go-sockaddr
// template ("{{ GetInterfaceIP \"eth0\" }}") rather than a literal.
func isAddrTemplate(s string) bool { return strings.Contains(s, "{{") }

// templateFuncs is go-sockaddr's template language with the functions that
// need the default route reading it through env (see systemNetEnv) instead
// of running `ip route`. go-sockaddr's maps are copied, never changed.
func templateFuncs(env netEnv) template.FuncMap {
	funcs := template.FuncMap{}
	for _, m := range []template.FuncMap{socktmpl.SourceFuncs, socktmpl.SortFuncs, socktmpl.FilterFuncs, socktmpl.HelperFuncs} {
		maps.Copy(funcs, m)
	}
	funcs["GetAllInterfaces"] = env.interfaces
	funcs["GetDefaultInterfaces"] = env.defaultInterfaces
	funcs["GetPrivateInterfaces"] = func() (sockaddr.IfAddrs, error) { return env.rfc6890Interfaces(true) }
	funcs["GetPublicInterfaces"] = func() (sockaddr.IfAddrs, error) { return env.rfc6890Interfaces(false) }
	funcs["GetPrivateIP"] = func() (string, error) { return firstIP(env.rfc6890Interfaces(true)) }
	funcs["GetPublicIP"] = func() (string, error) { return firstIP(env.rfc6890Interfaces(false)) }
	funcs["GetInterfaceIP"] = env.interfaceIP
	funcs["sort"] = env.sortIfBy
	return funcs
}

// interfaceIP is GetInterfaceIP: the first address of the interfaces whose
// name matches re, IPv4 before IPv6, larger networks first. go-sockaddr's
// keeps only forwardable addresses, so "lo" yields nothing; here those are
// preferred but an interface with none (loopback) still yields its own,
// since naming an interface says which address is wanted.
func (env netEnv) interfaceIP(re string) (string, error) {
	ifs, err := env.interfaces()
	if err != nil {
		return "", err
	}
	if ifs, _, err = sockaddr.IfByName(re, ifs); err != nil {
		return "", err
	}
	fwd, _, err := sockaddr.IfByFlag("forwardable", ifs)
	if err != nil {
		return "", err
	}
	if len(fwd) > 0 {
		ifs = fwd
	}
	if ifs, err = sockaddr.SortIfBy("+type,+size", ifs); err != nil {
		return "", err
	}
	return firstIP(ifs, nil)
}

// parseAddrTemplate checks a template's syntax; it reads nothing of the host.
func parseAddrTemplate(key, text string, env netEnv) (*template.Template, error) {
	t, err := template.New(key).Option("missingkey=error").Funcs(templateFuncs(env)).Parse(text)
	if err != nil {
		return nil, fieldErr(key, "template %q: %v", text, err)
	}
	return t, nil
}

// renderAddrTemplate runs a template against the host's interfaces and
// returns the addresses it printed, separated by white space.
func renderAddrTemplate(key, text string, env netEnv) ([]string, error) {
	t, err := parseAddrTemplate(key, text, env)
	if err != nil {
		return nil, err
	}
	ifs, err := env.interfaces()
	if err != nil {
		return nil, fieldErr(key, "template %q: listing interfaces: %v", text, err)
	}
	var b strings.Builder
	if err := t.Execute(&b, ifs); err != nil {
		return nil, fieldErr(key, "template %q: %v", text, err)
	}
	out := strings.Fields(b.String())
	if len(out) == 0 {
		return nil, fieldErr(key, "template %q matched no address", text)
	}
	return out, nil
}

// resolveIPSetting turns bind or advertise into one IP: a literal is kept,
// a template must yield exactly one IP address.
func resolveIPSetting(key, value string, env netEnv) (string, error) {
	if !isAddrTemplate(value) {
		return value, nil
	}
	out, err := renderAddrTemplate(key, value, env)
	if err != nil {
		return "", err
	}
	if len(out) > 1 {
		return "", fieldErr(key, "template %q matched more than one address: %s; narrow the template", value, strings.Join(out, " "))
	}
	if net.ParseIP(out[0]) == nil {
		return "", fieldErr(key, "template %q yielded %q, which is not an IP address", value, out[0])
	}
	return out[0], nil
}

// resolveJoin expands the join templates; each address a template yields is
// one seed, so one template may give several.
func resolveJoin(join []string, env netEnv) ([]string, error) {
	out := make([]string, 0, len(join))
	for _, j := range join {
		if !isAddrTemplate(j) {
			out = append(out, j)
			continue
		}
		seeds, err := renderAddrTemplate("join", j, env)
		if err != nil {
			return nil, err
		}
		for _, s := range seeds {
			if err := discovery.ValidateSeed(s); err != nil {
				return nil, fieldErr("join", "template %q yielded a bad seed: %v", j, err)
			}
		}
		out = append(out, seeds...)
	}
	return out, nil
}

// resolveAddresses replaces the templates in bind, advertise and join with
// the addresses they yield on this host. New calls it once, before anything
// listens; errors name the key.
func (c Config) resolveAddresses(env netEnv) (Config, error) {
	var err error
	if c.Bind, err = resolveIPSetting("bind", c.Bind, env); err != nil {
		return c, err
	}
	if c.Advertise, err = resolveIPSetting("advertise", c.Advertise, env); err != nil {
		return c, err
	}
	if c.Advertise != "" && net.ParseIP(c.Advertise).IsUnspecified() {
		return c, fieldErr("advertise", "%q is unspecified; give an address other nodes can reach", c.Advertise)
	}
	if c.Join, err = resolveJoin(c.Join, env); err != nil {
		return c, err
	}
	return c, nil
}

// defaultInterfaces is GetDefaultInterfaces: the addresses of the interface
// holding the default route.
func (env netEnv) defaultInterfaces() (sockaddr.IfAddrs, error) {
	name, err := env.defaultIface()
	if err != nil {
		return nil, err
	}
	ifs, err := env.interfaces()
	if err != nil {
		return nil, err
	}
	var out sockaddr.IfAddrs
	for _, ifa := range ifs {
		if ifa.Name == name {
			out = append(out, ifa)
		}
	}
	return out, nil
}

// rfc6890Interfaces is GetPrivateInterfaces (private) or
// GetPublicInterfaces: IP addresses of interfaces that are up, excluding
// loopback and link-local, default-route interface first, then IPv4 before
// IPv6, then larger networks first.
func (env netEnv) rfc6890Interfaces(private bool) (sockaddr.IfAddrs, error) {
	ifs, err := env.interfaces()
	if err != nil {
		return nil, err
	}
	ifs, _ = sockaddr.FilterIfByType(ifs, sockaddr.TypeIP)
	for _, flag := range []string{"forwardable", "up"} {
		if ifs, _, err = sockaddr.IfByFlag(flag, ifs); err != nil {
			return nil, err
		}
	}
	sockaddr.OrderedIfAddrBy(env.ascDefault(), sockaddr.AscIfType, sockaddr.AscIfNetworkSize).Sort(ifs)
	priv, pub, err := sockaddr.IfByRFC("6890", ifs)
	if private {
		return priv, err
	}
	return pub, err
}

func firstIP(ifs sockaddr.IfAddrs, err error) (string, error) {
	if err != nil || len(ifs) == 0 {
		return "", err
	}
	return (*sockaddr.ToIPAddr(ifs[0].SockAddr)).NetIP().String(), nil
}
