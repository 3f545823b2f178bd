package install

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"kmirror.dev/kmirror/pkg/certs"
	"kmirror.dev/kmirror/rules"
)

func inCluster(t *testing.T) []any {
	t.Helper()
	eng, err := rules.Load("")
	if err != nil {
		t.Fatal(err)
	}
	data, err := rules.Encode(eng.Rules())
	if err != nil {
		t.Fatal(err)
	}
	objs, err := Objects(Options{Namespace: "mirror", Image: "registry.example.com/kmirror:v1", Rules: data})
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func find[T any](t *testing.T, objs []any) T {
	t.Helper()
	for _, o := range objs {
		if v, ok := o.(T); ok {
			return v
		}
	}
	var zero T
	t.Fatalf("no %T", zero)
	return zero
}

func TestInClusterObjectsComeInAnOrderApplyAccepts(t *testing.T) {
	var kinds []string
	for _, o := range inCluster(t) {
		kinds = append(kinds, reflect.ValueOf(o).Elem().FieldByName("Kind").String())
	}
	want := []string{"Namespace", "ServiceAccount", "ConfigMap", "Secret", "Service", "Deployment", "PodDisruptionBudget", "MutatingWebhookConfiguration"}
	if diff := cmp.Diff(want, kinds); diff != "" {
		t.Errorf("kinds (-want +got):\n%s", diff)
	}
}

func TestDeploymentIsHardenedAndAvailable(t *testing.T) {
	objs := inCluster(t)
	d := find[*appsv1.Deployment](t, objs)
	spec := d.Spec.Template.Spec
	c := spec.Containers[0]
	checks := map[string]bool{
		"2 replicas":                 *d.Spec.Replicas == 2,
		"the image":                  c.Image == "registry.example.com/kmirror:v1",
		"a non-root user":            *spec.SecurityContext.RunAsNonRoot && *spec.SecurityContext.RunAsUser != 0,
		"a read-only root":           *c.SecurityContext.ReadOnlyRootFilesystem,
		"no privilege escalation":    !*c.SecurityContext.AllowPrivilegeEscalation,
		"no capabilities":            slices.Equal(c.SecurityContext.Capabilities.Drop, []corev1.Capability{"ALL"}),
		"requests":                   !c.Resources.Requests.Cpu().IsZero() && !c.Resources.Requests.Memory().IsZero(),
		"a memory limit":             !c.Resources.Limits.Memory().IsZero(),
		"GOMEMLIMIT of 128MiB":       slices.Equal(c.Env, []corev1.EnvVar{{Name: "GOMEMLIMIT", Value: "128MiB"}}),
		"a readiness probe":          c.ReadinessProbe.HTTPGet.Path == "/readyz" && c.ReadinessProbe.HTTPGet.Scheme == corev1.URISchemeHTTPS,
		"a liveness probe":           c.LivenessProbe.HTTPGet.Path == "/healthz",
		"spread across nodes":        spec.TopologySpreadConstraints[0].TopologyKey == "kubernetes.io/hostname",
		"no API token":               !*spec.AutomountServiceAccountToken,
		"its own service account":    spec.ServiceAccountName == Name,
		"pods that opt out":          d.Spec.Template.Labels[OptOutLabel] == OptOutValue,
		"a drain on SIGTERM":         slices.Contains(c.Args, "--shutdown-delay=5s"),
		"the rules of the ConfigMap": slices.Contains(c.Args, "--rules=/etc/kmirror/rules/rules.yaml"),
	}
	for what, ok := range checks {
		if !ok {
			t.Errorf("the Deployment lacks %s", what)
		}
	}
	podLabels := labels.Set(d.Spec.Template.Labels)
	svc := find[*corev1.Service](t, objs)
	if !labels.SelectorFromSet(svc.Spec.Selector).Matches(podLabels) {
		t.Error("the Service does not select the Pods")
	}
	pdb := find[*policyv1.PodDisruptionBudget](t, objs)
	if sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector); err != nil || !sel.Matches(podLabels) || pdb.Spec.MinAvailable.IntValue() != 1 {
		t.Errorf("the PodDisruptionBudget does not keep one Pod: %+v", pdb.Spec)
	}
}

func TestSecretServesTheCABundle(t *testing.T) {
	objs := inCluster(t)
	s := find[*corev1.Secret](t, objs)
	wh := find[*admissionregistrationv1.MutatingWebhookConfiguration](t, objs)
	pair, err := tls.X509KeyPair(s.Data["tls.crt"], s.Data["tls.key"])
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(wh.Webhooks[0].ClientConfig.CABundle) {
		t.Fatal("no CA in the caBundle")
	}
	svc := wh.Webhooks[0].ClientConfig.Service
	host := svc.Name + "." + svc.Namespace + ".svc"
	if _, err := pair.Leaf.Verify(x509.VerifyOptions{DNSName: host, Roots: roots}); err != nil {
		t.Errorf("the API server cannot verify %s: %v", host, err)
	}
	if s.Type != corev1.SecretTypeTLS || !bytes.Equal(s.Data["ca.crt"], wh.Webhooks[0].ClientConfig.CABundle) {
		t.Error("the Secret is not a TLS secret with the CA")
	}
}

func TestRulesConfigMapHoldsTheRules(t *testing.T) {
	cm := find[*corev1.ConfigMap](t, inCluster(t))
	eng, err := rules.Parse("configmap", []byte(cm.Data["rules.yaml"]))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := rules.Load("")
	if diff := cmp.Diff(want.Rules(), eng.Rules()); diff != "" {
		t.Errorf("rules (-want +got):\n%s", diff)
	}
}

func TestWebhookConfiguration(t *testing.T) {
	wh := find[*admissionregistrationv1.MutatingWebhookConfiguration](t, inCluster(t)).Webhooks[0]
	if *wh.FailurePolicy != admissionregistrationv1.Ignore || *wh.TimeoutSeconds > 5 ||
		*wh.SideEffects != admissionregistrationv1.SideEffectClassNone ||
		*wh.ReinvocationPolicy != admissionregistrationv1.IfNeededReinvocationPolicy ||
		!slices.Equal(wh.AdmissionReviewVersions, []string{"v1", "v1beta1"}) {
		t.Errorf("webhook %+v", wh)
	}
	type rule struct{ Resources, Operations string }
	var got []rule
	for _, r := range wh.Rules {
		var ops []string
		for _, op := range r.Operations {
			ops = append(ops, string(op))
		}
		got = append(got, rule{strings.Join(r.Resources, ","), strings.Join(ops, ",")})
	}
	want := []rule{{"pods", "CREATE,UPDATE"}, {"pods/ephemeralcontainers", "UPDATE"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rules (-want +got):\n%s", diff)
	}
	if svc := wh.ClientConfig.Service; svc.Namespace != "mirror" || svc.Name != Name || *svc.Path != "/mutate" || wh.ClientConfig.URL != nil {
		t.Errorf("client config %+v", wh.ClientConfig)
	}
	namespaces := map[string]labels.Set{
		"default":      {"kubernetes.io/metadata.name": "default"},
		"kube-system":  {"kubernetes.io/metadata.name": "kube-system"},
		"mirror":       {"kubernetes.io/metadata.name": "mirror"},
		"opted-out":    {"kubernetes.io/metadata.name": "opted-out", OptOutLabel: OptOutValue},
		"other-labels": {"kubernetes.io/metadata.name": "other-labels", OptOutLabel: "enabled"},
	}
	wantNamespaces := []string{"default", "other-labels"}
	if diff := cmp.Diff(wantNamespaces, selected(t, wh.NamespaceSelector, namespaces)); diff != "" {
		t.Errorf("namespaces mutated (-want +got):\n%s", diff)
	}
	objects := map[string]labels.Set{"plain": {}, "labelled": {"app": "x"}, "opted-out": {OptOutLabel: OptOutValue}}
	if diff := cmp.Diff([]string{"labelled", "plain"}, selected(t, wh.ObjectSelector, objects)); diff != "" {
		t.Errorf("objects mutated (-want +got):\n%s", diff)
	}
}

func selected(t *testing.T, s *metav1.LabelSelector, sets map[string]labels.Set) []string {
	t.Helper()
	sel, err := metav1.LabelSelectorAsSelector(s)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for name, set := range sets {
		if sel.Matches(set) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

func TestOutOfClusterIsTheWebhookConfigurationAlone(t *testing.T) {
	objs, err := Objects(Options{WebhookURL: "https://203.0.113.7:8443/mutate", CABundle: []byte("CA")})
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 1 {
		t.Fatalf("%d objects, want the webhook configuration alone", len(objs))
	}
	wh := objs[0].(*admissionregistrationv1.MutatingWebhookConfiguration).Webhooks[0]
	if *wh.ClientConfig.URL != "https://203.0.113.7:8443/mutate" || wh.ClientConfig.Service != nil || string(wh.ClientConfig.CABundle) != "CA" {
		t.Errorf("client config %+v", wh.ClientConfig)
	}
	if got := wh.NamespaceSelector.MatchExpressions[0].Values; !slices.Equal(got, []string{"kube-system"}) {
		t.Errorf("namespaces skipped %v, want kube-system", got)
	}
}

func TestOptionsValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    Options
		want string
	}{
		{"plain http", Options{WebhookURL: "http://127.0.0.1/mutate", CABundle: []byte("x")}, "https only"},
		{"no host", Options{WebhookURL: "https:///mutate", CABundle: []byte("x")}, "https only"},
		{"no CA", Options{WebhookURL: "https://127.0.0.1/mutate"}, "needs the CA"},
		{"no image", Options{Namespace: "n", Rules: []byte("x")}, "image"},
		{"no rules", Options{Namespace: "n", Image: "i"}, "rules"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.o.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one with %q", err, tc.want)
			}
		})
	}
}

// TestWriteRoundTrips reads the YAML stream back into the API types.
func TestWriteRoundTrips(t *testing.T) {
	objs := inCluster(t)
	var out bytes.Buffer
	if err := Write(&out, objs); err != nil {
		t.Fatal(err)
	}
	docs := strings.Split(strings.TrimPrefix(out.String(), "---\n"), "\n---\n")
	if len(docs) != len(objs) {
		t.Fatalf("%d documents for %d objects", len(docs), len(objs))
	}
	dec := yaml.NewDecoder(&out)
	for i, doc := range docs {
		if !strings.HasPrefix(doc, "apiVersion: ") || strings.Contains(doc, "\nstatus:") {
			t.Errorf("document %d does not start with apiVersion or has a status:\n%s", i+1, doc)
		}
		var n yaml.Node
		if err := dec.Decode(&n); err != nil {
			t.Fatal(err)
		}
		data, err := yaml.NewRNode(n.Content[0]).MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		got := reflect.New(reflect.TypeOf(objs[i]).Elem()).Interface()
		if err := json.Unmarshal(data, got); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(objs[i], got); diff != "" {
			t.Errorf("document %d (-object +read back):\n%s", i+1, diff)
		}
	}
}

func withSwap(t *testing.T, o Options) []any {
	t.Helper()
	o.Namespace, o.Image, o.Rules = "mirror", "registry.example.com/kmirror:v1", []byte("rules")
	objs, err := Objects(o)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func TestSwapExistsWiresTheDeployment(t *testing.T) {
	objs := withSwap(t, Options{SwapPolicy: SwapExists, CopyMissing: true, RegistrySecret: "mirror-creds"})
	spec := find[*appsv1.Deployment](t, objs).Spec.Template.Spec
	c := spec.Containers[0]
	for _, arg := range []string{"--swap-policy=exists", "--check-timeout=1s", "--review-budget=2s", "--copy-missing", "--registry-config=/etc/kmirror/registry/config.json"} {
		if !slices.Contains(c.Args, arg) {
			t.Errorf("the Deployment lacks %s: %v", arg, c.Args)
		}
	}
	want := corev1.Volume{Name: "registry", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
		SecretName: "mirror-creds", Items: []corev1.KeyToPath{{Key: ".dockerconfigjson", Path: "config.json"}}}}}
	if diff := cmp.Diff(want, spec.Volumes[len(spec.Volumes)-1]); diff != "" {
		t.Errorf("registry volume (-want +got):\n%s", diff)
	}
	if m := c.VolumeMounts[len(c.VolumeMounts)-1]; m.Name != "registry" || m.MountPath != "/etc/kmirror/registry" || !m.ReadOnly {
		t.Errorf("registry mount %+v", m)
	}
	wh := find[*admissionregistrationv1.MutatingWebhookConfiguration](t, objs).Webhooks[0]
	if *wh.SideEffects != admissionregistrationv1.SideEffectClassNoneOnDryRun {
		t.Errorf("with copies, side effects %s, want NoneOnDryRun", *wh.SideEffects)
	}
	if ReviewBudget >= time.Duration(*wh.TimeoutSeconds)*time.Second || CheckTimeout > ReviewBudget {
		t.Errorf("a review budget of %s and checks of %s do not fit timeoutSeconds %d", ReviewBudget, CheckTimeout, *wh.TimeoutSeconds)
	}

	plain := find[*appsv1.Deployment](t, withSwap(t, Options{SwapPolicy: SwapExists})).Spec.Template.Spec
	if len(plain.Volumes) != 2 || slices.Contains(plain.Containers[0].Args, "--copy-missing") || !slices.Contains(plain.Containers[0].Args, "--swap-policy=exists") {
		t.Errorf("exists without copies or Secret: volumes %v, args %v", plain.Volumes, plain.Containers[0].Args)
	}
	always := withSwap(t, Options{})
	if args := find[*appsv1.Deployment](t, always).Spec.Template.Spec.Containers[0].Args; slices.Contains(args, "--swap-policy=exists") {
		t.Errorf("args %v", args)
	}
	if se := *find[*admissionregistrationv1.MutatingWebhookConfiguration](t, always).Webhooks[0].SideEffects; se != admissionregistrationv1.SideEffectClassNone {
		t.Errorf("without copies, side effects %s", se)
	}
}

// TestNewRulesDoNotRollTheDeployment: kmirror serve rereads its rules, so
// only a new certificate changes the Pod template.
func TestNewRulesDoNotRollTheDeployment(t *testing.T) {
	b, err := certs.Generate(ServiceHosts("mirror"), time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	template := func(rules string, b *certs.Bundle) string {
		objs, err := Objects(Options{Namespace: "mirror", Image: "i", Rules: []byte(rules), Certs: b})
		if err != nil {
			t.Fatal(err)
		}
		out, _ := json.Marshal(find[*appsv1.Deployment](t, objs).Spec.Template)
		return string(out)
	}
	if template("one", b) != template("two", b) {
		t.Error("new rules change the Pod template")
	}
	other, err := certs.Generate(ServiceHosts("mirror"), time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if template("one", b) == template("one", other) {
		t.Error("a new certificate does not change the Pod template")
	}
}

func TestSwapOptionsValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    Options
		want string
	}{
		{"unknown policy", Options{SwapPolicy: "sometimes"}, `swap policy "sometimes"`},
		{"copies without exists", Options{CopyMissing: true}, "needs the swap policy exists"},
		{"a Secret without exists", Options{RegistrySecret: "creds"}, "needs the swap policy exists"},
		{"a Secret that cannot be named", Options{SwapPolicy: SwapExists, RegistrySecret: "Creds_1"}, `registry Secret "Creds_1"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.Namespace, tc.o.Image, tc.o.Rules = "n", "i", []byte("r")
			if err := tc.o.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one with %q", err, tc.want)
			}
		})
	}
}
