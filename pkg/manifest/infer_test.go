package manifest

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"kmirror.dev/kmirror/pkg/mirror"
)

// foundPaths returns the paths of the fields wk finds in doc, each with its
// value as written and how it was found.
func foundPaths(t *testing.T, wk *Walk, doc string) []string {
	t.Helper()
	fields, err := wk.Images(parse(t, doc))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range fields {
		got = append(got, f.Path.String()+"="+f.Value()+" ("+string(f.Found)+")")
	}
	return got
}

// TestByName covers the fields found by name, in the shapes of the
// operators' own examples, and their look-alikes, which must not be.
func TestByName(t *testing.T) {
	tests := []struct {
		name, doc string
		want      []string
	}{
		{"Spark application, sidecars of a driver", `apiVersion: sparkoperator.k8s.io/v1beta2
kind: SparkApplication
spec:
  type: Scala
  image: docker.io/apache/spark:4.0.4
  imagePullPolicy: IfNotPresent
  mainApplicationFile: local:///opt/spark/examples/jars/spark-examples.jar
  driver:
    sidecars:
    - {name: sidecar1, image: sidecar1}
    initContainers: [{name: init, image: busybox}]`,
			[]string{"spec.image=docker.io/apache/spark:4.0.4 (by-name)", "spec.driver.sidecars[0].image=sidecar1 (by-name)",
				"spec.driver.initContainers[0].image=busybox (builtin)"}},
		{"Flink deployment", "apiVersion: flink.apache.org/v1beta1\nkind: FlinkDeployment\nspec:\n  image: flink:2.2\n  flinkVersion: v2_2\n  job: {jarURI: 'local:///opt/flink/examples/streaming/StateMachineExample.jar'}",
			[]string{"spec.image=flink:2.2 (by-name)"}},
		{"Strimzi Kafka, beside a version", "apiVersion: kafka.strimzi.io/v1\nkind: Kafka\nspec:\n  kafka:\n    version: 4.3.1\n    image: my-org/my-image:latest",
			[]string{"spec.kafka.image=my-org/my-image:latest (by-name)"}},
		{"OpenTelemetry collector", `apiVersion: opentelemetry.io/v1beta1
kind: OpenTelemetryCollector
spec:
  image: ghcr.io/open-telemetry/opentelemetry-collector-releases/opentelemetry-collector-contrib:0.120.0
  additionalContainers:
  - {name: alpine, image: mirror.gcr.io/library/alpine:latest, command: [sh]}
  config:
    receivers: {otlp: {protocols: {grpc: {}}}}`,
			[]string{"spec.image=ghcr.io/open-telemetry/opentelemetry-collector-releases/opentelemetry-collector-contrib:0.120.0 (by-name)",
				"spec.additionalContainers[0].image=mirror.gcr.io/library/alpine:latest (by-name)"}},
		{"Rook Ceph cluster", "apiVersion: ceph.rook.io/v1\nkind: CephCluster\nspec:\n  cephVersion:\n    image: quay.io/ceph/ceph:v20.2.4\n    allowUnsupported: false",
			[]string{"spec.cephVersion.image=quay.io/ceph/ceph:v20.2.4 (by-name)"}},
		{"Kubeflow Trainer job", "apiVersion: trainer.kubeflow.org/v1alpha1\nkind: TrainJob\nspec:\n  runtimeRef: {name: torch-distributed}\n  trainer:\n    numNodes: 3\n    image: python:3.11-slim\n    command: [python3]",
			[]string{"spec.trainer.image=python:3.11-slim (by-name)"}},
		{"an image volume's shape, and imageName", "apiVersion: example.com/v1\nkind: Model\nspec:\n  weights:\n    image: {reference: models/llama, pullPolicy: IfNotPresent}\n  imageName: ghcr.io/x/y:1",
			[]string{"spec.weights.image.reference=models/llama (by-name)", "spec.imageName=ghcr.io/x/y:1 (by-name)"}},
		{"a templated tag", "apiVersion: example.com/v1\nkind: Job\nspec:\n  runner: {image: 'golang:{{inputs.parameters.version}}'}",
			[]string{"spec.runner.image=golang:{{inputs.parameters.version}} (by-name)"}},
		{"a built-in field is found once, as built in", "apiVersion: monitoring.coreos.com/v1\nkind: Prometheus\nspec:\n  image: quay.io/prometheus/prometheus:v3.0.0",
			[]string{"spec.image=quay.io/prometheus/prometheus:v3.0.0 (builtin)"}},

		// Look-alikes.
		{"a ConfigMap's data", "apiVersion: v1\nkind: ConfigMap\ndata:\n  image: quay.io/x/y:1\n  config: {image: quay.io/x/y:1}", nil},
		{"an annotation's JSON, and labels", `apiVersion: example.com/v1
kind: App
metadata:
  annotations: {image: quay.io/x/y:1, config: '{"image": "quay.io/x/y:1"}'}
spec:
  template:
    metadata: {labels: {image: nginx}}
  alerts:
  - labels: {image: quay.io/x/y:1}
    annotations: {image: quay.io/x/y:1}`, nil},
		{"a Helm values blob in a string", "apiVersion: example.com/v1\nkind: Release\nspec:\n  valuesContent: |\n    image: quay.io/x/y:1\n    sidecars: [{name: a, image: b:1}]", nil},
		{"Helm values in a kind that is no release", `apiVersion: core.oam.dev/v1beta1
kind: Application
spec:
  components:
  - name: redis
    type: helm
    properties:
      chart: redis
      values: {image: {registry: docker.io, repository: bitnami/redis}, sidecar: {image: "quay.io/x/y:1"}}
      valuesObject: {image: "quay.io/x/y:1"}`, nil},
		{"a Helm release's values", "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nspec:\n  values:\n    image: ghcr.io/stefanprodan/podinfo:6.5.0", nil},
		{"a CRD's schema", `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
spec:
  versions:
  - schema:
      openAPIV3Schema:
        properties:
          image: {type: string, default: quay.io/x/y:1}
          sidecars: {type: array, example: [{name: a, image: quay.io/x/y:1}]}`, nil},
		{"image: {} and values that are not strings", "apiVersion: example.com/v1\nkind: Thing\nspec:\n  a: {image: {}}\n  b: {image: true}\n  c: {image: 1.25}\n  d: {image: ~}\n  e: {image: [quay.io/x/y:1]}\n  f: [{name: x, image: 3}]", nil},
		{"VM and OS images", `apiVersion: example.com/v1
kind: Machine
spec:
  openstack: {flavor: m1.large, image: ubuntu-2204-kube-v1.29.3}
  gcp: {image: projects/ubuntu-os-cloud/global/images/ubuntu-2204-jammy-v20240319}
  disk: [{initializeParams: [{image: debian-cloud/debian-11}]}]
  linode: {image: linode/ubuntu22.04, region: us-east}
  hetzner: {imageName: ubuntu-22.04}
  url: {image: "https://cloud-images.ubuntu.com/jammy/current/jammy-server-cloudimg-amd64.img"}
  metal3: {image: {url: "http://172.22.0.1/images/rhcos.qcow2", checksum: abc}}`, nil},
		{"a machine provider's group", "apiVersion: infrastructure.cluster.x-k8s.io/v1beta1\nkind: OpenStackMachineTemplate\nspec:\n  template:\n    spec:\n      image: ubuntu:22.04", nil},
		{"metadata of an embedded template", "apiVersion: example.com/v1\nkind: Thing\nspec:\n  template:\n    metadata: {image: quay.io/x/y:1}", nil},
		{"a Kyverno policy's patterns", `apiVersion: kyverno.io/v1
kind: ClusterPolicy
spec:
  rules:
  - name: no-latest
    verifyImages: [{image: "ghcr.io/kyverno/test-verify-image"}]
    validate:
      pattern:
        spec:
          runner: {image: "!*:latest"}
          sidecar: {image: "quay.io/x/y:1"}`, nil},
		{"a kind cluster's configuration, for a tool outside the cluster", "apiVersion: kind.x-k8s.io/v1alpha4\nkind: Cluster\nnodes:\n- role: control-plane\n  image: kindest/node:v1.31.0", nil},
		{"a Gatekeeper constraint", "apiVersion: constraints.gatekeeper.sh/v1beta1\nkind: K8sAllowedRepos\nspec:\n  parameters:\n    image: quay.io/x/y:1", nil},
		{"an image composed of parts", "apiVersion: nvidia.com/v1\nkind: ClusterPolicy\nspec:\n  driver: {repository: nvcr.io/nvidia, image: driver:550, version: '550.54.15'}\n  toolkit: {image: container-toolkit, registry: nvcr.io}", nil},
		{"where a build pushes", "apiVersion: kafka.strimzi.io/v1\nkind: KafkaConnect\nspec:\n  build:\n    output: {type: docker, image: ttl.sh/strimzi-connect-example:24h}", nil},
		{"an object's status", "apiVersion: example.com/v1\nkind: Thing\nstatus:\n  containerStatuses: [{name: a, image: quay.io/x/y:1}]\n  image: quay.io/x/y:1", nil},
		{"a document that is no Kubernetes object", "services:\n  web: {image: nginx:1.25}\nimage: quay.io/x/y:1", nil},
		{"bare names outside a container's shape", "apiVersion: example.com/v1\nkind: Thing\nspec:\n  a: {image: nginx}\n  b: {image: rancher/k3s-upgrade}\n  c: {image: '1.25'}", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, foundPaths(t, builtinWalk, tc.doc)); diff != "" {
				t.Errorf("fields (-want +got):\n%s", diff)
			}
		})
	}
}

// TestByNameContainerShape: in an entry of a list that has a name, or
// beside an imagePullPolicy, a bare name is an image too, and a pull
// policy Never keeps it.
func TestByNameContainerShape(t *testing.T) {
	doc := `apiVersion: example.com/v1
kind: Thing
spec:
  helpers:
  - {name: a, image: busybox}
  - {image: busybox}
  single: {name: b, image: busybox}
  pinned: {image: local-build, imagePullPolicy: Never}`
	fields, err := builtinWalk.Images(parse(t, doc))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range fields {
		got = append(got, f.Path.String()+" "+f.List+"/"+f.Name)
	}
	want := []string{"spec.helpers[0].image helpers/a", "spec.pinned.image /"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("fields (-want +got):\n%s", diff)
	}
	if len(fields) == 2 && fields[1].Keep == nil {
		t.Error("the image beside imagePullPolicy: Never is not kept")
	}
}

// TestByNameTurnedOff covers the exclusions of the rules, by group, by
// kind and everywhere; the built-in and declared fields stay.
func TestByNameTurnedOff(t *testing.T) {
	doc := "apiVersion: apps.example.com/v1\nkind: Stage\nspec:\n  image: quay.io/x/y:1\n  runner: {image: quay.io/r/s:1}\n  containers: [{name: c, image: c}]"
	tests := []struct {
		name    string
		exclude []mirror.ImageField
		want    []string
	}{
		{"on", nil, []string{"spec.image=quay.io/x/y:1 (by-name)", "spec.runner.image=quay.io/r/s:1 (declared)", "spec.containers[0].image=c (builtin)"}},
		{"off by group", []mirror.ImageField{{Group: "apps.example.com", Exclude: true}}, []string{"spec.runner.image=quay.io/r/s:1 (declared)", "spec.containers[0].image=c (builtin)"}},
		{"off by a group pattern", []mirror.ImageField{{Group: "*.example.com", Exclude: true}}, []string{"spec.runner.image=quay.io/r/s:1 (declared)", "spec.containers[0].image=c (builtin)"}},
		{"off by kind", []mirror.ImageField{{Kind: "Stage", Exclude: true}}, []string{"spec.runner.image=quay.io/r/s:1 (declared)", "spec.containers[0].image=c (builtin)"}},
		{"off everywhere", []mirror.ImageField{{Exclude: true}}, []string{"spec.runner.image=quay.io/r/s:1 (declared)", "spec.containers[0].image=c (builtin)"}},
		{"another kind off", []mirror.ImageField{{Kind: "Other", Exclude: true}, {Group: "*.other.io", Exclude: true}},
			[]string{"spec.image=quay.io/x/y:1 (by-name)", "spec.runner.image=quay.io/r/s:1 (declared)", "spec.containers[0].image=c (builtin)"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wk := builtinWalk.with(append([]mirror.ImageField{{Kind: "Stage", Path: "spec.runner.image"}}, tc.exclude...), nil)
			if diff := cmp.Diff(tc.want, foundPaths(t, wk, doc)); diff != "" {
				t.Errorf("fields (-want +got):\n%s", diff)
			}
		})
	}
}

// TestWithoutInference: --no-infer gives the rules an exclusion of every
// kind, which the walk reads.
func TestWithoutInference(t *testing.T) {
	eng, err := mirror.New(mirror.Rules{ImageFields: []mirror.ImageField{{Kind: "Stage", Path: "spec.runner.image"}}})
	if err != nil {
		t.Fatal(err)
	}
	off, err := WithoutInference(eng)
	if err != nil {
		t.Fatal(err)
	}
	doc := "apiVersion: example.com/v1\nkind: Stage\nspec:\n  image: quay.io/x/y:1\n  runner: {image: r}"
	if diff := cmp.Diff([]string{"spec.image=quay.io/x/y:1 (by-name)", "spec.runner.image=r (declared)"}, foundPaths(t, WalkOf(eng), doc)); diff != "" {
		t.Errorf("with inference (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"spec.runner.image=r (declared)"}, foundPaths(t, WalkOf(off), doc)); diff != "" {
		t.Errorf("without inference (-want +got):\n%s", diff)
	}
}

// TestByNameRefusesDuplicateKeys: a field found by name is read as kubectl
// reads it, so a mapping on its way that holds a key twice is refused.
func TestByNameRefusesDuplicateKeys(t *testing.T) {
	for _, doc := range []string{
		"apiVersion: example.com/v1\nkind: Thing\nspec:\n  image: quay.io/a:1\n  image: quay.io/b:1",
		"apiVersion: example.com/v1\nkind: Thing\nspec:\n  volume:\n    image: {reference: quay.io/a:1, reference: quay.io/b:1}",
	} {
		_, err := builtinWalk.Images(parse(t, doc))
		var dup *DuplicateKeyError
		if !errors.As(err, &dup) {
			t.Errorf("Images = %v, want a *DuplicateKeyError for\n%s", err, doc)
		}
	}
}
