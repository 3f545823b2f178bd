package cmd

import (
	"bytes"
	"encoding/base64"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"kmirror.dev/kmirror/rules"
)

// objects parses a YAML stream into its objects.
func objects(t *testing.T, stream string) []*yaml.RNode {
	t.Helper()
	dec := yaml.NewDecoder(strings.NewReader(stream))
	var out []*yaml.RNode
	for {
		var doc yaml.Node
		if err := dec.Decode(&doc); err == io.EOF {
			return out
		} else if err != nil {
			t.Fatalf("%v:\n%s", err, stream)
		}
		out = append(out, yaml.NewRNode(doc.Content[0]))
	}
}

func field(t *testing.T, n *yaml.RNode, path ...string) string {
	t.Helper()
	v, err := n.Pipe(yaml.Lookup(path...))
	if err != nil || v == nil {
		t.Fatalf("no %v in\n%s", path, n.MustString())
	}
	return strings.TrimSpace(v.MustString())
}

func TestManifestsInCluster(t *testing.T) {
	dir := t.TempDir()
	rulesFile := write(t, dir, "rules.yaml", "apiVersion: kmirror.dev/v1alpha1\nkind: MirrorRules\nmetadata: {name: mine}\nspec:\n  mirrors:\n  - {from: quay.io/, to: mirror.example.com/quay/}\n")
	stdout, stderr, code := run(t, "", "manifests", "--namespace", "mirror", "--image", "registry.example.com/kmirror:v1", "--rules", rulesFile)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	objs := objects(t, stdout)
	var kinds []string
	for _, o := range objs {
		kinds = append(kinds, o.GetKind())
		if ns := o.GetNamespace(); ns != "" && ns != "mirror" {
			t.Errorf("%s in namespace %q", o.GetKind(), ns)
		}
	}
	want := []string{"Namespace", "ServiceAccount", "ConfigMap", "Secret", "Service", "Deployment", "PodDisruptionBudget", "MutatingWebhookConfiguration"}
	if diff := cmp.Diff(want, kinds); diff != "" {
		t.Fatalf("kinds (-want +got):\n%s", diff)
	}
	if img := field(t, objs[5], "spec", "template", "spec", "containers", "[name=kmirror]", "image"); img != "registry.example.com/kmirror:v1" {
		t.Errorf("image %q", img)
	}
	shipped, err := rules.Parse("configmap", []byte(yaml.GetValue(mustLookup(t, objs[2], "data", "rules.yaml"))))
	if err != nil {
		t.Fatal(err)
	}
	mine, err := rules.Load(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(mine.Rules(), shipped.Rules()); diff != "" {
		t.Errorf("rules in the ConfigMap (-want +got):\n%s", diff)
	}
}

func mustLookup(t *testing.T, n *yaml.RNode, path ...string) *yaml.RNode {
	t.Helper()
	v, err := n.Pipe(yaml.Lookup(path...))
	if err != nil || v == nil {
		t.Fatalf("no %v", path)
	}
	return v
}

func TestManifestsOutOfCluster(t *testing.T) {
	ca := write(t, t.TempDir(), "ca.crt", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
	stdout, stderr, code := run(t, "", "manifests", "--webhook-url", "https://127.0.0.1:8443/mutate", "--ca-file", ca)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	objs := objects(t, stdout)
	if len(objs) != 1 || objs[0].GetKind() != "MutatingWebhookConfiguration" {
		t.Fatalf("want the MutatingWebhookConfiguration alone, got:\n%s", stdout)
	}
	if url := field(t, objs[0], "webhooks", "[name=mirror.kmirror.dev]", "clientConfig", "url"); url != "https://127.0.0.1:8443/mutate" {
		t.Errorf("url %q", url)
	}
	bundle := field(t, objs[0], "webhooks", "[name=mirror.kmirror.dev]", "clientConfig", "caBundle")
	if got, _ := base64.StdEncoding.DecodeString(bundle); !bytes.Equal(got, []byte(read(t, ca))) {
		t.Errorf("caBundle %q is not the CA file", got)
	}
}

func TestManifestsFlagErrors(t *testing.T) {
	dir := t.TempDir()
	ca := write(t, dir, "ca.crt", "CA")
	url := "https://127.0.0.1:8443/mutate"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--webhook-url", url}, "--webhook-url and --ca-file go together"},
		{[]string{"--ca-file", ca}, "--webhook-url and --ca-file go together"},
		{[]string{"--webhook-url", url, "--ca-file", ca, "--image", "x"}, "--image is for the in-cluster install"},
		{[]string{"--webhook-url", url, "--ca-file", ca, "--rules", "nwcd-ecr-cn"}, "--rules is for the in-cluster install"},
		{[]string{"--webhook-url", "http://127.0.0.1/mutate", "--ca-file", ca}, "https only"},
		{[]string{"--webhook-url", url, "--ca-file", filepath.Join(dir, "missing")}, "reading the CA"},
		{[]string{"--rules", "no-such-preset"}, "no preset"},
		{[]string{"--namespace", ""}, "needs a namespace"},
		{[]string{"extra"}, "unknown command"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			stdout, stderr, code := run(t, "", append([]string{"manifests"}, tc.args...)...)
			if code != 2 || stdout != "" || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want 2 and %q", code, stdout, stderr, tc.want)
			}
		})
	}
}

// TestManifestsRunValidServeFlags parses the arguments the Deployment
// gives kmirror serve with serve's own flags.
func TestManifestsRunValidServeFlags(t *testing.T) {
	for _, extra := range [][]string{nil, {"--swap-policy", "exists"}, {"--swap-policy", "exists", "--copy-missing", "--registry-secret", "mirror-creds"}} {
		t.Run(strings.Join(extra, " "), func(t *testing.T) {
			stdout, stderr, code := run(t, "", append([]string{"manifests"}, extra...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			deployment := objects(t, stdout)[5]
			args, err := deployment.Pipe(yaml.Lookup("spec", "template", "spec", "containers", "[name=kmirror]", "args"))
			if err != nil {
				t.Fatal(err)
			}
			var values []string
			for _, n := range args.YNode().Content {
				values = append(values, n.Value)
			}
			o := &ServeOptions{}
			fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
			o.AddFlags(fs)
			if err := fs.Parse(values[1:]); err != nil {
				t.Fatalf("serve %v: %v", values, err)
			}
			if err := o.Validate(fs); err != nil {
				t.Errorf("serve %v: %v", values, err)
			}
		})
	}
	_, stderr, code := run(t, "", "manifests", "--copy-missing")
	if code != 2 || !strings.Contains(stderr, "needs the swap policy exists") {
		t.Errorf("--copy-missing alone: exit %d, %s", code, stderr)
	}
}
