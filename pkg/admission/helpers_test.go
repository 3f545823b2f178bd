package admission

import (
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// M is the mirror of the default rules.
const M = "048912060910.dkr.ecr.cn-northwest-1.amazonaws.com.cn/"

const samplePod = `
apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: shop
  labels: {app: web}
spec:
  initContainers:
  - name: init
    image: quay.io/prometheus/busybox:1.36
  containers:
  - name: app
    image: k8s.gcr.io/coredns:1.3.1
    env:
    - {name: PASSWORD, value: s3cr3t-never-logged}
  - name: side
    image: direct.to/busybox:latest
  volumes:
  - name: data
    image: {reference: docker.io/library/data:1}
`

// podJSON returns the JSON form of a YAML object.
func podJSON(t testing.TB, y string) []byte {
	t.Helper()
	n, err := yaml.Parse(y)
	if err != nil {
		t.Fatal(err)
	}
	b, err := n.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return b
}
