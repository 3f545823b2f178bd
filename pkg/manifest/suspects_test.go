package manifest

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"

	"kmirror.dev/kmirror/pkg/mirror"
)

func TestSuspects(t *testing.T) {
	eng, err := mirror.New(mirror.Rules{Mirrors: []mirror.Rule{
		{From: "quay.io/", To: "m.example.com/quay/"}, {From: "docker.io/", To: "m.example.com/hub/"}}})
	if err != nil {
		t.Fatal(err)
	}
	in := `apiVersion: v1
kind: ConfigMap
metadata:
  name: rook-ceph-operator-config
  annotations: {containerImage: quay.io/x/annotated:1}
data:
  ROOK_CSI_CEPH_IMAGE: "quay.io/cephcsi/cephcsi:v3.14.0"
  config.yaml: |
    image: quay.io/x/in-blob:1
  OTHER: ghcr.io/not/covered:1
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: operator}
spec:
  template:
    spec:
      containers:
      - name: manager
        image: quay.io/operator/manager:v1
        args: ["--executor-image", "quay.io/argoproj/argoexec:v3.5.5", "--sidecar=docker.io/library/busybox:1.36", "run quay.io/x/y:1 now"]
        env:
        - {name: STRIMZI_DEFAULT_KAFKA_EXPORTER_IMAGE, value: quay.io/strimzi/kafka:0.40.0}
        - {name: RELATED_IMAGE_X, value: quay.io/related/x:1}
        - {name: BARE, value: quay.io/strimzi/kafka}
---
apiVersion: tekton.dev/v1
kind: Pipeline
metadata: {name: p}
spec:
  tasks:
  - name: build
    params: [{name: IMAGE, value: quay.io/me/app:1}]
status:
  image: quay.io/x/status:1
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
spec: {description: "e.g. quay.io/org/image:tag"}
`
	var got []Suspect
	before := 0
	_, err = Scan("in.yaml", bytes.NewReader([]byte(in)), eng, func(p *Part) error {
		s, err := Suspects("in.yaml", p, before, eng)
		got = append(got, s...)
		before += p.Documents
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		Doc, Line                int
		Path, Image, List, Entry string
		Why                      bool
	}
	var rows []row
	for _, s := range got {
		rows = append(rows, row{s.Document, s.Line, s.Path, s.Image, s.List, s.Entry, s.Why != ""})
	}
	want := []row{
		{1, 7, "data.ROOK_CSI_CEPH_IMAGE", "quay.io/cephcsi/cephcsi:v3.14.0", "imageFields", `{kind: ConfigMap, path: "data.ROOK_CSI_CEPH_IMAGE"}`, false},
		{1, 8, "data.config.yaml", "quay.io/x/in-blob:1", "", "", true},
		{2, 21, "spec.template.spec.containers[0].args[1]", "quay.io/argoproj/argoexec:v3.5.5", "imageValues", "{arg: --executor-image}", false},
		{2, 21, "spec.template.spec.containers[0].args[2]", "docker.io/library/busybox:1.36", "imageValues", "{arg: --sidecar}", false},
		{2, 21, "spec.template.spec.containers[0].args[3]", "quay.io/x/y:1", "", "", true},
		{2, 23, "spec.template.spec.containers[0].env[0].value", "quay.io/strimzi/kafka:0.40.0", "imageValues", "{env: STRIMZI_DEFAULT_KAFKA_EXPORTER_IMAGE}", false},
		{3, 33, "spec.tasks[0].params[0].value", "quay.io/me/app:1", "imageFields", `{group: tekton.dev, kind: Pipeline, path: "spec.tasks[name=build].params[name=IMAGE].value"}`, false},
	}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("suspects (-want +got):\n%s", diff)
	}
}
