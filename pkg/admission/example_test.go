package admission_test

import (
	"fmt"

	"kmirror.dev/kmirror/pkg/admission"
	"kmirror.dev/kmirror/rules"
)

// A Pod created with an image to mirror and an escaped image, then updated.
func ExampleMutate() {
	eng, err := rules.Load("") // the default rules
	if err != nil {
		panic(err)
	}
	created := []byte(`{"kind":"Pod","metadata":{"name":"test"},"spec":{"containers":[
		{"name":"dns","image":"k8s.gcr.io/coredns:1.3.1"},
		{"name":"tool","image":"direct.to/busybox:latest"}]}}`)
	m, err := admission.Mutate(eng, created, nil)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s\n\n", m.Patch())

	// On UPDATE, images equal to the old object's are left alone: the
	// escaped busybox:latest stays as it is.
	stored := []byte(`{"kind":"Pod","metadata":{"name":"test"},"spec":{"containers":[
		{"name":"dns","image":"048912060910.dkr.ecr.cn-northwest-1.amazonaws.com.cn/gcr/google_containers/coredns:1.3.1"},
		{"name":"tool","image":"busybox:latest"}]}}`)
	m, err = admission.Mutate(eng, stored, stored)
	if err != nil {
		panic(err)
	}
	for _, img := range m.Images {
		fmt.Printf("%s: %s (%s)\n", img.Path, img.Decision.Result, img.Kept)
	}
	// Output:
	// [{"op":"replace","path":"/spec/containers/0/image","value":"048912060910.dkr.ecr.cn-northwest-1.amazonaws.com.cn/gcr/google_containers/coredns:1.3.1"},{"op":"replace","path":"/spec/containers/1/image","value":"busybox:latest"},{"op":"add","path":"/metadata/annotations","value":{"kmirror.dev/escaped":"{\"containers/tool\":\"busybox:latest\"}"}}]
	//
	// spec.containers[0].image: 048912060910.dkr.ecr.cn-northwest-1.amazonaws.com.cn/gcr/google_containers/coredns:1.3.1 (unchanged by the update)
	// spec.containers[1].image: busybox:latest (unchanged by the update)
}
