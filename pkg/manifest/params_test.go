package manifest

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// usedPaths returns the fields wk finds in doc, each with its value and
// the fields that use it.
func usedPaths(t *testing.T, doc string) []string {
	t.Helper()
	fields, err := builtinWalk.Images(parse(t, doc))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range fields {
		s := f.Path.String() + "=" + f.Value()
		for _, u := range f.UsedBy {
			s += " <- " + u.String()
		}
		got = append(got, s)
	}
	return got
}

// TestParams covers images named by a whole parameter: the one value that
// the object gives it is the image, reported with the fields that use it.
func TestParams(t *testing.T) {
	tests := []struct {
		name, doc string
		want      []string
	}{
		{"a Task's default", `apiVersion: tekton.dev/v1
kind: Task
spec:
  params:
  - {name: IMAGE, description: where to push}
  - name: BUILDER_IMAGE
    default: gcr.io/kaniko-project/executor:v1.8.1
  steps:
  - {name: build-and-push, image: $(params.BUILDER_IMAGE), args: [--destination=$(params.IMAGE)]}
  - {name: again, image: '$(params["BUILDER_IMAGE"])'}
  - {name: write-url, image: mirror.gcr.io/bash:5.1.4}`,
			[]string{"spec.params[1].default=gcr.io/kaniko-project/executor:v1.8.1 <- spec.steps[0].image <- spec.steps[1].image",
				"spec.steps[2].image=mirror.gcr.io/bash:5.1.4"}},
		{"a TaskRun's value for its task spec", `apiVersion: tekton.dev/v1
kind: TaskRun
spec:
  params: [{name: image, value: ubuntu}]
  taskSpec:
    params: [{name: image}]
    stepTemplate: {image: $(params.image)}
    steps: [{name: foo, script: echo}]`,
			[]string{"spec.params[0].value=ubuntu <- spec.taskSpec.stepTemplate.image"}},
		{"a pipeline's parameter, propagated to an embedded task", `apiVersion: tekton.dev/v1
kind: Pipeline
spec:
  params: [{name: tool, default: alpine:3.20}]
  tasks:
  - name: t
    taskSpec:
      steps: [{image: $(params.tool)}]`,
			[]string{"spec.params[0].default=alpine:3.20 <- spec.tasks[0].taskSpec.steps[0].image"}},
		{"a default and a value that may override it", `apiVersion: tekton.dev/v1
kind: TaskRun
spec:
  params: [{name: image, value: ubuntu}]
  taskSpec:
    params: [{name: image, default: alpine}]
    steps: [{image: $(params.image)}]`,
			[]string{"spec.taskSpec.steps[0].image=$(params.image)"}},
		{"a parameter nothing gives", "apiVersion: tekton.dev/v1\nkind: Task\nspec:\n  params: [{name: image}]\n  steps: [{image: $(params.image)}]",
			[]string{"spec.steps[0].image=$(params.image)"}},
		{"a default that is a list", "apiVersion: tekton.dev/v1\nkind: Task\nspec:\n  params: [{name: image, type: array, default: [a]}]\n  steps: [{image: $(params.image)}]",
			[]string{"spec.steps[0].image=$(params.image)"}},
		{"a Shipwright strategy's parameter", `apiVersion: shipwright.io/v1beta1
kind: ClusterBuildStrategy
spec:
  parameters:
  - {name: builder-image, default: "docker.io/paketobuildpacks/builder-jammy-full:latest"}
  steps:
  - {name: build, image: $(params.builder-image)}
  - {name: go, image: golang:$(params.go-version)}`,
			[]string{"spec.parameters[0].default=docker.io/paketobuildpacks/builder-jammy-full:latest <- spec.steps[0].image",
				"spec.steps[1].image=golang:$(params.go-version)"}},
		{"not in another group", "apiVersion: example.com/v1\nkind: Task\nspec:\n  params: [{name: image, default: alpine:3}]\n  steps: [{name: s, image: $(params.image)}]", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, usedPaths(t, tc.doc)); diff != "" {
				t.Errorf("fields (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRewriteParamDefault: the default is rewritten, the step keeps its
// parameter, and both places are reported; a step whose pull policy is
// Never keeps the default as written.
func TestRewriteParamDefault(t *testing.T) {
	in := `apiVersion: tekton.dev/v1
kind: Task
spec:
  params:
  - name: BUILDER_IMAGE
    default: gcr.io/kaniko-project/executor:v1.8.1
  steps:
  - name: build
    image: $(params.BUILDER_IMAGE)
`
	res, err := Rewrite("task.yaml", []byte(in), engine(t))
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Replace(in, "gcr.io/", ecr+"/gcr/", 1)
	if diff := cmp.Diff(want, string(res.Output)); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
	if len(res.Images) != 1 || res.Images[0].Path != "spec.params[0].default" ||
		!cmp.Equal(res.Images[0].UsedBy, []string{"spec.steps[0].image"}) || len(res.Warnings) != 0 {
		t.Errorf("images %+v, warnings %v; want the default, used by the step, and no warning", res.Images, res.Warnings)
	}
	never := strings.Replace(in, "    image: $(params", "    imagePullPolicy: Never\n    image: $(params", 1)
	res, err = Rewrite("task.yaml", []byte(never), engine(t))
	if err != nil {
		t.Fatal(err)
	}
	if string(res.Output) != never {
		t.Errorf("a default used by a step whose pull policy is Never was rewritten:\n%s", res.Output)
	}
}
