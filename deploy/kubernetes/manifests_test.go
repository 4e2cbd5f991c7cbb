package kubernetes

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"
)

// kustomization is the part of kustomize's Kustomization used here,
// decoded strictly like the rest: a key this struct lacks is an error, so
// the file cannot grow features this test does not check.
type kustomization struct {
	APIVersion         string   `json:"apiVersion"`
	Kind               string   `json:"kind"`
	Resources          []string `json:"resources"`
	ConfigMapGenerator []struct {
		Name  string   `json:"name"`
		Files []string `json:"files"`
	} `json:"configMapGenerator"`
	Images []struct {
		Name   string `json:"name"`
		NewTag string `json:"newTag"`
	} `json:"images"`
}

// manifests is every object of the directory, decoded.
type manifests struct {
	kust   kustomization
	sts    appsv1.StatefulSet
	svc    corev1.Service
	pdb    policyv1.PodDisruptionBudget
	config corev1.ConfigMap // as the configMapGenerator makes it
	hcl    string
}

// decodeStrict decodes one YAML document into obj, failing on unknown or
// duplicate fields, and checks its apiVersion and kind.
func decodeStrict(t *testing.T, file string, obj any, gvk schema.GroupVersionKind) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "\n---") {
		t.Fatalf("%s: one object per file, please", file)
	}
	if err := yaml.UnmarshalStrict(b, obj); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(b, &tm); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if got := tm.GroupVersionKind(); got != gvk {
		t.Fatalf("%s: %v, want %v", file, got, gvk)
	}
}

func load(t *testing.T) *manifests {
	t.Helper()
	m := &manifests{}
	decodeStrict(t, "kustomization.yaml", &m.kust,
		schema.GroupVersionKind{Group: "kustomize.config.k8s.io", Version: "v1beta1", Kind: "Kustomization"})
	decodeStrict(t, "statefulset.yaml", &m.sts, appsv1.SchemeGroupVersion.WithKind("StatefulSet"))
	decodeStrict(t, "service.yaml", &m.svc, corev1.SchemeGroupVersion.WithKind("Service"))
	decodeStrict(t, "pdb.yaml", &m.pdb, policyv1.SchemeGroupVersion.WithKind("PodDisruptionBudget"))
	if len(m.kust.ConfigMapGenerator) != 1 || len(m.kust.ConfigMapGenerator[0].Files) != 1 {
		t.Fatalf("kustomization.yaml: want one configMapGenerator with one file, got %+v", m.kust.ConfigMapGenerator)
	}
	gen := m.kust.ConfigMapGenerator[0]
	b, err := os.ReadFile(gen.Files[0])
	if err != nil {
		t.Fatalf("kustomization.yaml configMapGenerator: %v", err)
	}
	m.hcl = string(b)
	m.config = corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: gen.Name},
		Data: map[string]string{filepath.Base(gen.Files[0]): m.hcl}}
	return m
}

// TestEveryManifestIsListed: kubectl apply -k applies what the
// kustomization lists; a manifest left out would silently not exist.
func TestEveryManifestIsListed(t *testing.T) {
	m := load(t)
	yamls, err := filepath.Glob("*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := slices.DeleteFunc(yamls, func(f string) bool { return f == "kustomization.yaml" })
	got := slices.Clone(m.kust.Resources)
	sort.Strings(want)
	sort.Strings(got)
	if !slices.Equal(got, want) {
		t.Errorf("kustomization resources %v, want every manifest %v", got, want)
	}
}

func (m *manifests) container(t *testing.T) corev1.Container {
	t.Helper()
	cs := m.sts.Spec.Template.Spec.Containers
	if len(cs) != 1 || cs[0].Name != "agent" {
		t.Fatalf("statefulset: want one container named agent, got %d", len(cs))
	}
	return cs[0]
}

// arg returns the value of -name=VALUE in the container's args.
func arg(t *testing.T, c corev1.Container, name string) string {
	t.Helper()
	for _, a := range c.Args {
		if v, ok := strings.CutPrefix(a, "-"+name+"="); ok {
			return v
		}
	}
	t.Fatalf("container args %q lack -%s=", c.Args, name)
	return ""
}

// hclString returns the value of a top-level `key = "value"` line.
func hclString(t *testing.T, hcl, key string) string {
	t.Helper()
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(key) + `\s*=\s*"([^"]*)"`)
	sm := re.FindStringSubmatch(hcl)
	if sm == nil {
		t.Fatalf("agent.hcl has no %s", key)
	}
	return sm[1]
}

func TestStatefulSet(t *testing.T) {
	m := load(t)
	spec := m.sts.Spec
	if spec.ServiceName != m.svc.Name {
		t.Errorf("serviceName %q, want the headless service %q", spec.ServiceName, m.svc.Name)
	}
	if spec.PodManagementPolicy != appsv1.ParallelPodManagement {
		t.Errorf("podManagementPolicy %q, want Parallel", spec.PodManagementPolicy)
	}
	if spec.Replicas == nil || *spec.Replicas != 3 {
		t.Errorf("replicas %v, want 3 (bootstrap_expect)", spec.Replicas)
	}
	sel, err := metav1.LabelSelectorAsSelector(spec.Selector)
	if err != nil || !sel.Matches(labels.Set(spec.Template.Labels)) {
		t.Errorf("selector %v (%v) does not match the pod labels %v", spec.Selector, err, spec.Template.Labels)
	}
	if len(spec.VolumeClaimTemplates) != 1 || spec.VolumeClaimTemplates[0].Name != "data" {
		t.Fatalf("volumeClaimTemplates: want one named data, got %d", len(spec.VolumeClaimTemplates))
	}
	c := m.container(t)
	mounts := map[string]string{}
	for _, vm := range c.VolumeMounts {
		mounts[vm.Name] = vm.MountPath
	}
	if dataDir := hclString(t, m.hcl, "data_dir"); mounts["data"] != dataDir {
		t.Errorf("the data volume is mounted at %q, agent.hcl's data_dir is %q", mounts["data"], dataDir)
	}
	configFile := arg(t, c, "config")
	if dir, file := filepath.Split(configFile); filepath.Clean(dir) != mounts["config"] || m.config.Data[file] == "" {
		t.Errorf("-config=%s is not agent.hcl of the config volume mounted at %q", configFile, mounts["config"])
	}
	checkVolumes(t, m, c)
	checkIdentityArgs(t, c)
}

func checkVolumes(t *testing.T, m *manifests, c corev1.Container) {
	t.Helper()
	vols := map[string]corev1.Volume{}
	for _, v := range m.sts.Spec.Template.Spec.Volumes {
		vols[v.Name] = v
	}
	if cm := vols["config"].ConfigMap; cm == nil || cm.Name != m.config.Name {
		t.Errorf("config volume %+v, want the generated ConfigMap %q", vols["config"], m.config.Name)
	}
	if s := vols["tls"].Secret; s == nil || s.SecretName != "agent-tls" {
		t.Errorf("tls volume %+v, want the Secret agent-tls", vols["tls"])
	}
	for _, f := range []string{"ca_file", "cert_file", "key_file"} {
		re := regexp.MustCompile(`(?m)^\s*` + f + `\s*=\s*"([^"]*)"`)
		sm := re.FindStringSubmatch(m.hcl)
		if sm == nil || !strings.HasPrefix(sm[1], "/etc/agent/tls/") {
			t.Errorf("agent.hcl tls.%s = %v, want a file of the tls Secret volume", f, sm)
		}
	}
	for _, vm := range c.VolumeMounts {
		if _, ok := vols[vm.Name]; !ok && vm.Name != "data" {
			t.Errorf("volume mount %q has no volume", vm.Name)
		}
	}
}

// checkIdentityArgs: the node ID is the pod name (stable, and matches the
// pod's volume), the advertised address the pod IP, the gossip key a Secret.
func checkIdentityArgs(t *testing.T, c corev1.Container) {
	t.Helper()
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	fieldOf := func(name string) string {
		if e := env[name]; e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
			return e.ValueFrom.FieldRef.FieldPath
		}
		return ""
	}
	for flag, want := range map[string]string{"node-id": "POD_NAME", "advertise": "POD_IP", "encrypt": "GOSSIP_KEY"} {
		if got := arg(t, c, flag); got != "$("+want+")" {
			t.Errorf("-%s=%s, want $(%s)", flag, got, want)
		}
	}
	if fieldOf("POD_NAME") != "metadata.name" || fieldOf("POD_IP") != "status.podIP" || fieldOf("POD_NAMESPACE") != "metadata.namespace" {
		t.Errorf("POD_NAME, POD_IP, POD_NAMESPACE must come from the downward API: %+v", c.Env)
	}
	if k := env["GOSSIP_KEY"].ValueFrom; k == nil || k.SecretKeyRef == nil || k.SecretKeyRef.Name != "agent-gossip" {
		t.Errorf("GOSSIP_KEY must come from the Secret agent-gossip: %+v", env["GOSSIP_KEY"])
	}
}

// TestDecodingIsStrict guards the guard: a misspelt field in a manifest
// must fail to decode, not vanish.
func TestDecodingIsStrict(t *testing.T) {
	b, err := os.ReadFile("statefulset.yaml")
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(b), "  podManagementPolicy: Parallel", "  podManagementPolicy: Parallel\n  podManagmentPolicy: Parallel", 1)
	if bad == string(b) {
		t.Fatal("statefulset.yaml no longer has the line this test alters")
	}
	var sts appsv1.StatefulSet
	if err := yaml.UnmarshalStrict([]byte(bad), &sts); err == nil || !strings.Contains(err.Error(), "podManagmentPolicy") {
		t.Fatalf("an unknown field decoded with error %v, want one naming it", err)
	}
}
