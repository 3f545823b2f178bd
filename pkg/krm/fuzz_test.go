package krm_test

import (
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"kmirror.dev/kmirror/pkg/krm"
)

// FuzzFunction feeds the function what an orchestrator, or anyone with a
// pipe, might: it never panics, and what it writes back is a ResourceList
// with as many items as it read.
func FuzzFunction(f *testing.F) {
	f.Add([]byte(resourceList("v1", "", deployment)))
	f.Add([]byte(resourceList("v1alpha1", mirrorRules, deployment)))
	f.Add([]byte(`{"apiVersion": "config.kubernetes.io/v1", "kind": "ResourceList", "items": [{"kind": "Pod", "spec": {"containers": [{"image": "nginx"}]}}]}`))
	f.Add([]byte("apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nfunctionConfig: {kind: ConfigMap, data: {rules: 'kind: MirrorRules'}}\nitems:\n- &a {kind: Pod, spec: {containers: [{image: *a}]}}\n"))
	f.Add([]byte("apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems: [{kind: List, items: [{kind: Pod, spec: {containers: [{image: 'direct.to/x'}]}}]}]\nresults: {}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if !krm.IsResourceList(data) {
			return
		}
		out, err := krm.Function{}.Run(data)
		if out == nil {
			if err == nil {
				t.Fatal("no output and no error")
			}
			return
		}
		if !krm.IsResourceList(out.ResourceList) {
			t.Fatalf("output is not a ResourceList:\n%s", out.ResourceList)
		}
		var in, got struct{ Items yaml.Node }
		if err := yaml.Unmarshal(data, &in); err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(out.ResourceList, &got); err != nil {
			t.Fatalf("output does not parse: %v\n%s", err, out.ResourceList)
		}
		if len(in.Items.Content) != len(got.Items.Content) {
			t.Fatalf("%d items in, %d out", len(in.Items.Content), len(got.Items.Content))
		}
	})
}
