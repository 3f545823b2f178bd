package bench

import (
	"strconv"
	"strings"
)

// header writes apiVersion, kind and metadata; the annotations sometimes
// mention an image, which kmirror must leave alone.
func (g *generator) header(apiVersion, kind, name string) {
	if g.chance(4) {
		g.printf("# %s %s, rendered by the release pipeline\n", kind, name)
	}
	g.printf("apiVersion: %s\nkind: %s\nmetadata:\n  name: %s\n  namespace: %s\n", apiVersion, kind, name, g.namespace())
	g.printf("  labels:\n    app.kubernetes.io/name: %s\n", name)
	if g.chance(3) {
		g.printf("    app.kubernetes.io/part-of: bench\n")
	}
	if g.chance(5) {
		ref, _ := g.imageRef()
		g.printf("  annotations:\n    kmirror.dev/original-image: %s\n", g.quoted(ref))
	}
}

// template writes a pod template: labels, then the pod spec.
func (g *generator) template(name string) {
	g.printf("template:\n  metadata:\n    labels:\n      app.kubernetes.io/name: %s\n  spec:\n", name)
	g.indented("    ", g.podSpec)
}

// workload writes a controller whose spec holds selector and template.
func (g *generator) workload(apiVersion, kind string, extra string) {
	name := g.name(strings.ToLower(kind))
	g.header(apiVersion, kind, name)
	g.printf("spec:\n")
	g.indented("  ", func() {
		g.printf("%sselector:\n  matchLabels:\n    app.kubernetes.io/name: %s\n", extra, name)
		g.template(name)
	})
}

func (g *generator) deployment() {
	g.workload("apps/v1", "Deployment", "replicas: "+strconv.Itoa(1+g.rng.IntN(5))+"\n")
}

func (g *generator) replicaSet() {
	g.workload("apps/v1", "ReplicaSet", "replicas: 2\n")
}

func (g *generator) statefulSet() {
	g.workload("apps/v1", "StatefulSet", "serviceName: db\nreplicas: 3\n")
}

func (g *generator) daemonSet() {
	g.workload("apps/v1", "DaemonSet", "updateStrategy:\n  type: RollingUpdate\n")
}

func (g *generator) replicationController() {
	g.workload("v1", "ReplicationController", "replicas: 1\n")
}

func (g *generator) rollout() {
	g.workload("argoproj.io/v1alpha1", "Rollout", "replicas: 5\nstrategy:\n  canary:\n    steps:\n    - setWeight: 20\n    - pause: {duration: 1h}\n")
}

func (g *generator) pod() {
	g.header("v1", "Pod", g.name("pod"))
	g.printf("spec:\n")
	g.indented("  ", g.podSpec)
}

func (g *generator) podTemplate() {
	name := g.name("podtemplate")
	g.header("v1", "PodTemplate", name)
	g.template(name)
}

func (g *generator) job() {
	name := g.name("job")
	g.header("batch/v1", "Job", name)
	g.printf("spec:\n  backoffLimit: 3\n")
	g.indented("  ", func() { g.template(name) })
}

func (g *generator) cronJob() {
	name := g.name("cronjob")
	g.header("batch/v1", "CronJob", name)
	g.printf("spec:\n  schedule: \"*/%d * * * *\"\n  jobTemplate:\n    spec:\n", 1+g.rng.IntN(30))
	g.indented("      ", func() { g.template(name) })
}

// pyTorchJob is a custom resource with two pod templates, deep in its spec.
func (g *generator) pyTorchJob() {
	name := g.name("pytorchjob")
	g.header("kubeflow.org/v1", "PyTorchJob", name)
	g.printf("spec:\n  pytorchReplicaSpecs:\n")
	for _, role := range []string{"Master", "Worker"} {
		g.printf("    %s:\n      replicas: %d\n      restartPolicy: OnFailure\n", role, 1+g.rng.IntN(4))
		g.indented("      ", func() { g.template(name) })
	}
}

func (g *generator) service() {
	name := g.name("svc")
	g.header("v1", "Service", name)
	g.printf("spec:\n  selector:\n    app.kubernetes.io/name: %s\n  ports:\n  - name: http\n    port: 80\n    targetPort: %d\n", name, 8000+g.rng.IntN(1000))
}

// configMap mentions images in its data, which kmirror must not touch.
func (g *generator) configMap() {
	g.header("v1", "ConfigMap", g.name("cfg"))
	ref, _ := g.imageRef()
	g.printf("data:\n  # images the application starts at run time\n  HELPER_IMAGE: %s\n", g.quoted(ref))
	if g.chance(2) {
		a, _ := g.imageRef()
		b, _ := g.imageRef()
		g.printf("  values.yaml: |\n    image: %s\n    sidecar:\n      containers:\n      - name: proxy\n        image: %s\n", a, b)
	}
}

// kindList is a List whose items are objects of their own.
func (g *generator) kindList() {
	g.printf("apiVersion: v1\nkind: List\nmetadata:\n  resourceVersion: \"\"\nitems:\n")
	items := []func(){g.deployment, g.pod, g.service, g.configMap, g.job}
	for range 2 + g.rng.IntN(2) {
		g.item(items[g.rng.IntN(len(items))])
	}
}

// jsonPod is a Pod written as indented JSON, one field a line.
func (g *generator) jsonPod() {
	name := g.name("jsonpod")
	g.printf("{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"Pod\",\n  \"metadata\": {\n    \"name\": %q,\n    \"namespace\": %q\n  },\n", name, g.namespace())
	g.printf("  \"spec\": {\n    \"containers\": [\n")
	n := 1 + g.rng.IntN(2)
	for i := range n {
		ref, rewritten := g.imageRef()
		g.stats.Images++
		if rewritten {
			g.stats.Rewrites++
		}
		sep := ","
		if i == n-1 {
			sep = ""
		}
		g.printf("      {\n        \"name\": %q,\n        \"image\": %q\n      }%s\n", containerNames[i], ref, sep)
	}
	g.printf("    ]\n  }\n}\n")
}

// crd describes containers in its schema and shows one in an example;
// kmirror never walks CustomResourceDefinitions.
func (g *generator) crd() {
	name := g.name("widgets") + ".example.com"
	ref, _ := g.imageRef()
	g.printf(`apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: %s
spec:
  group: example.com
  names:
    kind: Widget
    plural: widgets
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            # The example below is a pod spec in all but name.
            example:
              containers:
              - name: main
                image: %s
            properties:
              containers:
                type: array
                items:
                  type: object
                  required: [name, image]
                  properties:
                    name:
                      type: string
                    image:
                      type: string
                      description: "Container image name, such as nginx:1.25 or gcr.io/distroless/static"
                    imagePullPolicy:
                      type: string
                      enum: [Always, IfNotPresent, Never]
              replicas:
                type: integer
                minimum: 0
`, name, ref)
}
