package kubernetes

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// containerPort resolves a probe's or service's named (or numbered) port
// against the container's ports.
func containerPort(t *testing.T, c corev1.Container, p intstr.IntOrString, proto corev1.Protocol) int32 {
	t.Helper()
	for _, cp := range c.Ports {
		if cp.Protocol == "" {
			cp.Protocol = corev1.ProtocolTCP
		}
		if cp.Protocol == proto && ((p.Type == intstr.String && cp.Name == p.StrVal) || (p.Type == intstr.Int && cp.ContainerPort == p.IntVal)) {
			return cp.ContainerPort
		}
	}
	t.Fatalf("port %s/%s is not a port of the container", p.String(), proto)
	return 0
}

// TestProbes: readiness on /v1/health/ready, liveness on /v1/health/live,
// both on the port agent.hcl's http.addr listens on.
func TestProbes(t *testing.T) {
	m := load(t)
	c := m.container(t)
	httpPort := "7070"
	if !strings.Contains(m.hcl, `addr = "0.0.0.0:`+httpPort+`"`) {
		t.Fatalf("agent.hcl: http.addr must listen on 0.0.0.0:%s for the kubelet's probes", httpPort)
	}
	for _, p := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{{"readinessProbe", c.ReadinessProbe, "/v1/health/ready"}, {"livenessProbe", c.LivenessProbe, "/v1/health/live"}} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("%s: want an httpGet probe", p.name)
			continue
		}
		if p.probe.HTTPGet.Path != p.path {
			t.Errorf("%s: path %q, want %q", p.name, p.probe.HTTPGet.Path, p.path)
		}
		if got := containerPort(t, c, p.probe.HTTPGet.Port, corev1.ProtocolTCP); got != 7070 {
			t.Errorf("%s: port %d, want 7070", p.name, got)
		}
	}
}

// TestSeedService: the headless service publishes not-ready pods, selects
// the StatefulSet's pods, and its TCP port named in -join's SRV name leads
// to the container's gossip port.
func TestSeedService(t *testing.T) {
	m := load(t)
	c := m.container(t)
	spec := m.svc.Spec
	if spec.ClusterIP != corev1.ClusterIPNone || !spec.PublishNotReadyAddresses {
		t.Errorf("service: clusterIP %q publishNotReadyAddresses %v; want a headless service publishing not-ready pods",
			spec.ClusterIP, spec.PublishNotReadyAddresses)
	}
	if !labels.SelectorFromSet(spec.Selector).Matches(labels.Set(m.sts.Spec.Template.Labels)) || len(spec.Selector) == 0 {
		t.Errorf("service selector %v does not select the pods %v", spec.Selector, m.sts.Spec.Template.Labels)
	}
	join := arg(t, c, "join")
	// srv+_PORT._PROTO.SERVICE.NAMESPACE.svc.cluster.local
	parts := strings.Split(strings.TrimPrefix(join, "srv+"), ".")
	if !strings.HasPrefix(join, "srv+") || len(parts) != 7 || parts[3] != "$(POD_NAMESPACE)" ||
		strings.Join(parts[4:], ".") != "svc.cluster.local" {
		t.Fatalf("-join=%s, want srv+_PORT._tcp.%s.$(POD_NAMESPACE).svc.cluster.local", join, m.svc.Name)
	}
	if parts[2] != m.svc.Name {
		t.Errorf("-join names service %q, the seed service is %q", parts[2], m.svc.Name)
	}
	portName, proto := strings.TrimPrefix(parts[0], "_"), strings.TrimPrefix(parts[1], "_")
	if proto != "tcp" {
		t.Errorf("-join SRV protocol %q, want tcp (memberlist joins over TCP)", proto)
	}
	var found bool
	for _, p := range spec.Ports {
		if p.Name == portName && p.Protocol == corev1.ProtocolTCP {
			found = true
			if got := containerPort(t, c, p.TargetPort, corev1.ProtocolTCP); got != 7946 || p.Port != 7946 {
				t.Errorf("service port %s: %d -> container %d, want 7946 -> 7946 (the gossip port)", portName, p.Port, got)
			}
		}
	}
	if !found {
		t.Errorf("-join SRV port %q is not a TCP port of service %s", portName, m.svc.Name)
	}
	// Gossip also needs UDP; Raft its port.
	containerPort(t, c, intstr.FromInt32(7946), corev1.ProtocolUDP)
	containerPort(t, c, intstr.FromInt32(7000), corev1.ProtocolTCP)
}

// TestDisruptionBudget: one server down at a time, for the StatefulSet's pods.
func TestDisruptionBudget(t *testing.T) {
	m := load(t)
	spec := m.pdb.Spec
	if spec.MaxUnavailable == nil || *spec.MaxUnavailable != intstr.FromInt32(1) || spec.MinAvailable != nil {
		t.Errorf("pdb: maxUnavailable %v minAvailable %v, want maxUnavailable 1 only", spec.MaxUnavailable, spec.MinAvailable)
	}
	sel, err := metav1.LabelSelectorAsSelector(spec.Selector)
	if err != nil || sel.Empty() || !sel.Matches(labels.Set(m.sts.Spec.Template.Labels)) {
		t.Errorf("pdb selector %v (%v) does not select the pods %v", spec.Selector, err, m.sts.Spec.Template.Labels)
	}
}

// TestSecurityContext: non-root 65532, read-only root filesystem, no
// capabilities, no privilege escalation.
func TestSecurityContext(t *testing.T) {
	m := load(t)
	c := m.container(t)
	pod := m.sts.Spec.Template.Spec.SecurityContext
	sc := c.SecurityContext
	if sc == nil || pod == nil {
		t.Fatal("want both a pod and a container securityContext")
	}
	is := func(p *bool, want bool) bool { return p != nil && *p == want }
	is64 := func(p *int64, want int64) bool { return p != nil && *p == want }
	if !is(sc.RunAsNonRoot, true) || !is64(sc.RunAsUser, 65532) || !is64(sc.RunAsGroup, 65532) ||
		!is64(pod.RunAsUser, 65532) || !is64(pod.FSGroup, 65532) {
		t.Errorf("want non-root 65532:65532 (and fsGroup 65532 so the volume is writable): pod %+v container %+v", pod, sc)
	}
	if !is(sc.ReadOnlyRootFilesystem, true) || !is(sc.AllowPrivilegeEscalation, false) {
		t.Errorf("readOnlyRootFilesystem %v allowPrivilegeEscalation %v, want true and false",
			sc.ReadOnlyRootFilesystem, sc.AllowPrivilegeEscalation)
	}
	if sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" || len(sc.Capabilities.Add) != 0 {
		t.Errorf("capabilities %+v, want drop ALL and add none", sc.Capabilities)
	}
	if !strings.Contains(m.hcl, "leave_on_terminate = false") {
		t.Error("agent.hcl must set leave_on_terminate = false (README.md says why)")
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources %+v: want cpu and memory requests and a memory limit", c.Resources)
	}
}
