package manifest_test

import (
	"fmt"
	"log"
	"os"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/kio"

	"kmirror.dev/kmirror/pkg/manifest"
	"kmirror.dev/kmirror/pkg/mirror"
)

// The Rewriter is a kio.Filter: it runs wherever kyaml runs filters, here
// in a pipeline from a stream to stdout, and then tells what it decided.
func ExampleRewriter() {
	eng, err := mirror.New(mirror.Rules{
		EscapePrefix: mirror.DefaultEscapePrefix,
		Mirrors: []mirror.Rule{
			{From: "docker.io/", To: "mirror.example.com/hub/"},
			{From: "registry.k8s.io/", To: "mirror.example.com/k8s/"},
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	in := `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      initContainers:
      - name: setup
        image: direct.to/busybox:1.36 # pulled from Docker Hub itself
      containers:
      - name: web
        image: nginx:1.25
      - name: metrics
        image: registry.k8s.io/metrics-server/metrics-server:v0.7.1
`
	r := &manifest.Rewriter{Engine: eng, File: "web.yaml"}
	err = kio.Pipeline{
		Inputs:  []kio.Reader{&kio.ByteReader{Reader: strings.NewReader(in), OmitReaderAnnotations: true}},
		Filters: []kio.Filter{r},
		Outputs: []kio.Writer{kio.ByteWriter{Writer: os.Stdout}},
	}.Execute()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println()
	for _, img := range r.Images {
		fmt.Printf("%s: %s (%s)\n", img.Path, img.Decision.Result, img.Decision.Action)
	}
	// Output:
	// apiVersion: apps/v1
	// kind: Deployment
	// metadata:
	//   name: web
	// spec:
	//   template:
	//     spec:
	//       initContainers:
	//       - name: setup
	//         image: busybox:1.36 # pulled from Docker Hub itself
	//       containers:
	//       - name: web
	//         image: mirror.example.com/hub/nginx:1.25
	//       - name: metrics
	//         image: mirror.example.com/k8s/metrics-server/metrics-server:v0.7.1
	//
	// spec.template.spec.initContainers[0].image: busybox:1.36 (escaped)
	// spec.template.spec.containers[0].image: mirror.example.com/hub/nginx:1.25 (mirrored)
	// spec.template.spec.containers[1].image: mirror.example.com/k8s/metrics-server/metrics-server:v0.7.1 (mirrored)
}
