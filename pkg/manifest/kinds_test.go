package manifest

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"kmirror.dev/kmirror/pkg/mirror"
)

// fieldPaths returns the paths of the fields wk finds in doc, each with its
// value as written.
func fieldPaths(t *testing.T, wk *Walk, doc string) []string {
	t.Helper()
	fields, err := wk.Images(parse(t, doc))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range fields {
		got = append(got, f.Path.String()+"="+f.Value())
	}
	return got
}

// TestPodSpecParts covers pod specs written in part, as kustomize patches
// and Pods with init containers only are, and pod specs inside pod specs.
func TestPodSpecParts(t *testing.T) {
	tests := []struct {
		name, doc string
		want      []string
	}{
		{"a Pod with init containers only", "kind: Pod\nspec:\n  initContainers: [{name: i, image: busybox}]",
			[]string{"spec.initContainers[0].image=busybox"}},
		{"a Pod with image volumes only", "kind: Pod\nspec:\n  volumes: [{name: m, image: {reference: quay.io/m:1}}, {name: c, configMap: {name: x}}]",
			[]string{"spec.volumes[0].image.reference=quay.io/m:1"}},
		{"a kustomize patch with ephemeral containers only",
			"apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n    spec:\n      ephemeralContainers: [{name: d, image: debug}]",
			[]string{"spec.template.spec.ephemeralContainers[0].image=debug"}},
		{"a patch of a container's resources, without an image",
			"kind: Deployment\nspec:\n  template:\n    spec:\n      containers: [{name: app, resources: {limits: {cpu: 1}}}]", nil},
		{"a second pod template beside containers",
			"apiVersion: example.com/v1\nkind: Runner\nspec:\n  containers: [{name: a, image: main}]\n  workerTemplate:\n    spec:\n      containers: [{name: w, image: worker}]",
			[]string{"spec.containers[0].image=main", "spec.workerTemplate.spec.containers[0].image=worker"}},
		{"a KServe predictor with a worker spec inside",
			"apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\nspec:\n  predictor:\n    containers: [{name: kserve-container, image: head}]\n    workerSpec:\n      containers: [{name: worker-container, image: worker}]",
			[]string{"spec.predictor.containers[0].image=head", "spec.predictor.workerSpec.containers[0].image=worker"}},
		{"lists that are not container lists",
			"kind: Widget\nspec:\n  containers: [a, b]\n  initContainers: {type: array}\n  volumes: [{name: v, image: nginx}]", nil},
		{"objects embedded in an object",
			"apiVersion: triggers.tekton.dev/v1beta1\nkind: TriggerTemplate\nmetadata: {name: tt}\nspec:\n  resourcetemplates:\n" +
				"  - apiVersion: tekton.dev/v1\n    kind: TaskRun\n    spec:\n      taskSpec:\n        steps: [{name: s, image: alpine}]\n" +
				"  - apiVersion: v1\n    kind: ConfigMap\n    data:\n      containers: [{image: nginx}]\n" +
				"  - apiVersion: v1\n    kind: Pod\n    metadata: {annotations: {image: x}}\n    spec:\n      containers: [{name: c, image: pod}]",
			[]string{"spec.resourcetemplates[0].spec.taskSpec.steps[0].image=alpine", "spec.resourcetemplates[2].spec.containers[0].image=pod"}},
		{"metadata anywhere",
			"kind: Pod\nspec:\n  template:\n    metadata:\n      containers: [{image: a}]\n    spec:\n      containers: [{image: b}]",
			[]string{"spec.template.spec.containers[0].image=b"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, fieldPaths(t, builtinWalk, tc.doc)); diff != "" {
				t.Errorf("fields (-want +got):\n%s", diff)
			}
		})
	}
}

// TestBuiltinKinds covers the built-in fields of each kind, on objects of
// the shapes the projects document.
func TestBuiltinKinds(t *testing.T) {
	tests := []struct {
		name, doc string
		want      []string
	}{
		{"Tekton Task", `apiVersion: tekton.dev/v1
kind: Task
spec:
  stepTemplate: {image: base, env: [{name: A, value: b}]}
  steps:
  - {name: build, image: golang:1.22}
  - {name: use, ref: {resolver: bundles, params: [{name: bundle, value: gcr.io/a/actions:1}, {name: name, value: x}]}}
  - {name: local, ref: {name: my-action}}
  sidecars: [{name: docker, image: docker:dind}]
  volumes: [{name: models, image: {reference: quay.io/m:1}}]`,
			[]string{"spec.stepTemplate.image=base", "spec.steps[0].image=golang:1.22", "spec.steps[1].ref.params[0].value=gcr.io/a/actions:1",
				"spec.sidecars[0].image=docker:dind", "spec.volumes[0].image.reference=quay.io/m:1"}},
		{"Tekton ClusterTask", "apiVersion: tekton.dev/v1beta1\nkind: ClusterTask\nspec:\n  steps: [{image: a}]", []string{"spec.steps[0].image=a"}},
		{"Tekton TaskRun", `apiVersion: tekton.dev/v1
kind: TaskRun
spec:
  taskRef:
    resolver: bundles
    params: [{name: bundle, value: ghcr.io/tektoncd/catalog/git-clone:0.9}, {name: kind, value: task}]
  taskSpec:
    steps: [{name: s, image: alpine}]`,
			[]string{"spec.taskRef.params[0].value=ghcr.io/tektoncd/catalog/git-clone:0.9", "spec.taskSpec.steps[0].image=alpine"}},
		{"Tekton TaskRun with an old bundle", "apiVersion: tekton.dev/v1beta1\nkind: TaskRun\nspec:\n  taskRef: {name: t, bundle: docker.io/me/bundle:1}",
			[]string{"spec.taskRef.bundle=docker.io/me/bundle:1"}},
		{"Tekton Pipeline", `apiVersion: tekton.dev/v1
kind: Pipeline
spec:
  tasks:
  - name: one
    taskSpec:
      steps: [{name: s, image: one}]
      sidecars: [{name: c, image: side}]
  - name: two
    taskRef: {resolver: bundles, params: [{name: bundle, value: gcr.io/b/task:1}]}
  finally:
  - name: last
    taskSpec:
      stepTemplate: {image: tmpl}
      steps: [{name: s}]`,
			[]string{"spec.tasks[0].taskSpec.steps[0].image=one", "spec.tasks[0].taskSpec.sidecars[0].image=side",
				"spec.tasks[1].taskRef.params[0].value=gcr.io/b/task:1", "spec.finally[0].taskSpec.stepTemplate.image=tmpl"}},
		{"Tekton PipelineRun", `apiVersion: tekton.dev/v1
kind: PipelineRun
spec:
  pipelineRef: {resolver: bundles, params: [{name: bundle, value: gcr.io/p:1}]}
  pipelineSpec:
    tasks:
    - name: a
      taskSpec: {steps: [{image: a}]}
    finally:
    - name: f
      taskSpec: {steps: [{image: f}]}
  taskRunTemplate:
    podTemplate:
      volumes: [{name: v, image: {reference: vol}}]`,
			[]string{"spec.pipelineRef.params[0].value=gcr.io/p:1", "spec.pipelineSpec.tasks[0].taskSpec.steps[0].image=a",
				"spec.pipelineSpec.finally[0].taskSpec.steps[0].image=f", "spec.taskRunTemplate.podTemplate.volumes[0].image.reference=vol"}},
		{"Tekton StepAction", "apiVersion: tekton.dev/v1beta1\nkind: StepAction\nspec:\n  image: alpine\n  script: echo", []string{"spec.image=alpine"}},
		{"not Tekton's group", "apiVersion: example.com/v1\nkind: Task\nspec:\n  steps: [{image: a}]", nil},
		{"Argo Workflow", `apiVersion: argoproj.io/v1alpha1
kind: Workflow
spec:
  templates:
  - name: main
    container: {image: alpine:3.7}
    initContainers: [{name: init, image: init}]
    sidecars: [{name: influxdb, image: influxdb:1.2}]
  - name: py
    script: {image: python:alpine3.6, source: print(1)}
  - name: set
    containerSet:
      containers: [{name: a, image: argoproj/argosay:v2}, {name: b, image: b}]
  - name: inline
    steps:
    - - name: a
        inline: {container: {image: step-inline}}
    dag:
      tasks: [{name: d, inline: {script: {image: dag-inline}}}]
  templateDefaults:
    container: {image: default}`,
			[]string{"spec.templates[0].container.image=alpine:3.7", "spec.templates[0].initContainers[0].image=init",
				"spec.templates[0].sidecars[0].image=influxdb:1.2", "spec.templates[1].script.image=python:alpine3.6",
				"spec.templates[2].containerSet.containers[0].image=argoproj/argosay:v2", "spec.templates[2].containerSet.containers[1].image=b",
				"spec.templates[3].steps[0][0].inline.container.image=step-inline", "spec.templates[3].dag.tasks[0].inline.script.image=dag-inline",
				"spec.templateDefaults.container.image=default"}},
		{"Argo CronWorkflow", "apiVersion: argoproj.io/v1alpha1\nkind: CronWorkflow\nspec:\n  schedule: '* * * * *'\n  workflowSpec:\n    templates: [{name: m, container: {image: c}}]",
			[]string{"spec.workflowSpec.templates[0].container.image=c"}},
		{"Argo ClusterWorkflowTemplate", "apiVersion: argoproj.io/v1alpha1\nkind: ClusterWorkflowTemplate\nspec:\n  templates: [{name: m, script: {image: s}}]",
			[]string{"spec.templates[0].script.image=s"}},
		{"KubeVirt VirtualMachine", `apiVersion: kubevirt.io/v1
kind: VirtualMachine
spec:
  dataVolumeTemplates:
  - metadata: {name: dv}
    spec:
      source:
        registry: {url: "docker://quay.io/containerdisks/fedora:40"}
  - metadata: {name: archive}
    spec:
      source:
        registry: {url: "oci-archive:///data/disk.tar"}
  template:
    spec:
      domain:
        firmware:
          kernelBoot: {container: {image: kernel, kernelPath: /boot/vmlinuz}}
      volumes:
      - {name: containerdisk, containerDisk: {image: quay.io/kubevirt/cirros-container-disk-demo}}
      - {name: cloudinitdisk, cloudInitNoCloud: {userData: x}}`,
			[]string{"spec.dataVolumeTemplates[0].spec.source.registry.url=quay.io/containerdisks/fedora:40",
				"spec.template.spec.domain.firmware.kernelBoot.container.image=kernel",
				"spec.template.spec.volumes[0].containerDisk.image=quay.io/kubevirt/cirros-container-disk-demo"}},
		{"KubeVirt VirtualMachineInstance", "apiVersion: kubevirt.io/v1\nkind: VirtualMachineInstance\nspec:\n  volumes: [{name: d, containerDisk: {image: disk}}]",
			[]string{"spec.volumes[0].containerDisk.image=disk"}},
		{"KubeVirt VirtualMachinePool", `apiVersion: pool.kubevirt.io/v1alpha1
kind: VirtualMachinePool
spec:
  virtualMachineTemplate:
    spec:
      template:
        spec:
          volumes: [{name: d, containerDisk: {image: disk}}]`,
			[]string{"spec.virtualMachineTemplate.spec.template.spec.volumes[0].containerDisk.image=disk"}},
		{"CDI DataVolume", "apiVersion: cdi.kubevirt.io/v1beta1\nkind: DataVolume\nspec:\n  source:\n    registry: {url: 'docker://kubevirt/fedora-cloud-registry-disk-demo'}",
			[]string{"spec.source.registry.url=kubevirt/fedora-cloud-registry-disk-demo"}},
		{"CDI DataVolume of an archive", "apiVersion: cdi.kubevirt.io/v1beta1\nkind: DataVolume\nspec:\n  source:\n    registry: {url: 'oci-archive:///disk.tar'}", nil},
		{"CDI DataVolume with the bare scheme", "apiVersion: cdi.kubevirt.io/v1beta1\nkind: DataVolume\nspec:\n  source:\n    registry: {url: 'docker://'}", nil},
		{"CDI DataImportCron", "apiVersion: cdi.kubevirt.io/v1beta1\nkind: DataImportCron\nspec:\n  template:\n    spec:\n      source:\n        registry: {url: 'docker://quay.io/containerdisks/centos-stream:9'}",
			[]string{"spec.template.spec.source.registry.url=quay.io/containerdisks/centos-stream:9"}},
		{"KServe InferenceService", `apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
spec:
  predictor:
    sklearn: {storageUri: "gs://kfserving-examples/models/sklearn/1.0/model", image: my/sklearnserver:1}
    model: {modelFormat: {name: sklearn}, storageUri: "oci://quay.io/models/iris:1"}
  transformer:
    containers: [{name: kserve-container, image: transformer:1}]
  explainer:
    art: {type: SquareAttack, image: art:1}`,
			[]string{"spec.predictor.sklearn.image=my/sklearnserver:1", "spec.predictor.model.storageUri=quay.io/models/iris:1",
				"spec.transformer.containers[0].image=transformer:1", "spec.explainer.art.image=art:1"}},
		{"KServe ClusterStorageContainer", "apiVersion: serving.kserve.io/v1alpha1\nkind: ClusterStorageContainer\nspec:\n  container: {name: storage-initializer, image: kserve/storage-initializer:v0.13.0}",
			[]string{"spec.container.image=kserve/storage-initializer:v0.13.0"}},
		{"Crossplane Provider", "apiVersion: pkg.crossplane.io/v1\nkind: Provider\nspec:\n  package: xpkg.upbound.io/crossplane-contrib/provider-aws:v0.39.0",
			[]string{"spec.package=xpkg.upbound.io/crossplane-contrib/provider-aws:v0.39.0"}},
		{"Prometheus", "apiVersion: monitoring.coreos.com/v1\nkind: Prometheus\nspec:\n  image: quay.io/prometheus/prometheus:v2.53.0\n  thanos: {image: quay.io/thanos/thanos:v0.35.1}",
			[]string{"spec.image=quay.io/prometheus/prometheus:v2.53.0", "spec.thanos.image=quay.io/thanos/thanos:v0.35.1"}},
		{"Tekton pipelines in pipelines, nested twice", `apiVersion: tekton.dev/v1
kind: Pipeline
spec:
  tasks:
  - name: child
    pipelineSpec:
      tasks:
      - name: hello
        taskSpec: {steps: [{name: echo, image: mirror.gcr.io/busybox}]}
      - name: grandchild
        pipelineSpec:
          finally:
          - name: bye
            taskSpec: {steps: [{image: alpine}]}
          tasks:
          - name: bundled
            taskRef: {resolver: bundles, params: [{name: bundle, value: gcr.io/t:1}]}`,
			[]string{"spec.tasks[0].pipelineSpec.tasks[0].taskSpec.steps[0].image=mirror.gcr.io/busybox",
				"spec.tasks[0].pipelineSpec.tasks[1].pipelineSpec.finally[0].taskSpec.steps[0].image=alpine",
				"spec.tasks[0].pipelineSpec.tasks[1].pipelineSpec.tasks[0].taskRef.params[0].value=gcr.io/t:1"}},
		{"Tekton PipelineRun with a pipeline in its pipeline", `apiVersion: tekton.dev/v1
kind: PipelineRun
spec:
  pipelineSpec:
    tasks:
    - name: child
      pipelineSpec:
        tasks: [{name: t, taskSpec: {steps: [{image: inner}]}}]`,
			[]string{"spec.pipelineSpec.tasks[0].pipelineSpec.tasks[0].taskSpec.steps[0].image=inner"}},
		{"CDI DataVolume from VMware", `apiVersion: cdi.kubevirt.io/v1beta1
kind: DataVolume
spec:
  source:
    vddk:
      backingFile: "[iSCSI_Datastore] vm/vm_1.vmdk"
      url: "https://vcenter.corp.com"
      initImageURL: "registry:5000/vddk-init:latest"`,
			[]string{"spec.source.vddk.initImageURL=registry:5000/vddk-init:latest"}},
		{"CDI in a VirtualMachine's data volume template", "apiVersion: kubevirt.io/v1\nkind: VirtualMachine\nspec:\n  dataVolumeTemplates:\n  - spec:\n      source:\n        vddk: {initImageURL: quay.io/v/vddk:8}",
			[]string{"spec.dataVolumeTemplates[0].spec.source.vddk.initImageURL=quay.io/v/vddk:8"}},
		{"KServe storage URIs of OCI images", `apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
spec:
  predictor:
    model: {storageUri: "oci+native://quay.io/models/a:1"}
    huggingface: {storageUri: "oci+fetch://quay.io/models/b:2"}
    onnx: {storageUri: "oci+other://quay.io/models/c:3"}
    pytorch: {storageUri: "oci+native://"}`,
			[]string{"spec.predictor.model.storageUri=quay.io/models/a:1", "spec.predictor.huggingface.storageUri=quay.io/models/b:2"}},
		{"CloudNativePG Cluster", `apiVersion: postgresql.cnpg.io/v1
kind: Cluster
spec:
  imageName: ghcr.io/cloudnative-pg/postgresql:18.6-minimal-trixie
  instances: 1
  postgresql:
    extensions:
    - name: postgis
      image:
        reference: ghcr.io/cloudnative-pg/postgis-extension:3.6.1-18-trixie
      ld_library_path: [system]`,
			[]string{"spec.imageName=ghcr.io/cloudnative-pg/postgresql:18.6-minimal-trixie",
				"spec.postgresql.extensions[0].image.reference=ghcr.io/cloudnative-pg/postgis-extension:3.6.1-18-trixie"}},
		{"CloudNativePG ClusterImageCatalog", `apiVersion: postgresql.cnpg.io/v1
kind: ClusterImageCatalog
spec:
  images:
  - {major: 16, image: postgres16}
  - {major: 15, image: postgres15}
  componentImages:
  - {key: pgbouncer, image: ghcr.io/cloudnative-pg/pgbouncer:1.25.1}`,
			[]string{"spec.images[0].image=postgres16", "spec.images[1].image=postgres15", "spec.componentImages[0].image=ghcr.io/cloudnative-pg/pgbouncer:1.25.1"}},
		{"CloudNativePG Pooler", "apiVersion: postgresql.cnpg.io/v1\nkind: Pooler\nspec:\n  pgbouncer: {poolMode: session, image: pgbouncer}",
			[]string{"spec.pgbouncer.image=pgbouncer"}},
		{"Shipwright ClusterBuildStrategy", `apiVersion: shipwright.io/v1beta1
kind: ClusterBuildStrategy
spec:
  steps:
  - {name: build, image: quay.io/containers/buildah:v1.43.2, imagePullPolicy: Always}
  - {name: push, image: kaniko}`,
			[]string{"spec.steps[0].image=quay.io/containers/buildah:v1.43.2", "spec.steps[1].image=kaniko"}},
		{"Shipwright v1alpha1 BuildStrategy", "apiVersion: shipwright.io/v1alpha1\nkind: BuildStrategy\nspec:\n  buildSteps: [{name: build, image: quay.io/openshift-pipeline/s2i:nightly}]",
			[]string{"spec.buildSteps[0].image=quay.io/openshift-pipeline/s2i:nightly"}},
		{"Shipwright Build", `apiVersion: shipwright.io/v1beta1
kind: Build
spec:
  source:
    type: OCI
    ociArtifact: {image: source-bundle}
  output:
    image: image-registry.openshift-image-registry.svc:5000/build-examples/taxi-app
  trigger:
    when:
    - type: Image
      image: {names: [quay.io/x/base:1]}`,
			[]string{"spec.source.ociArtifact.image=source-bundle"}},
		{"OLM ClusterCatalog", "apiVersion: olm.operatorframework.io/v1\nkind: ClusterCatalog\nspec:\n  source:\n    type: Image\n    image: {ref: quay.io/operatorhubio/catalog:latest, pollIntervalMinutes: 10}",
			[]string{"spec.source.image.ref=quay.io/operatorhubio/catalog:latest"}},
		{"KubeVela Application", `apiVersion: core.oam.dev/v1beta1
kind: Application
spec:
  components:
  - name: frontend
    type: webservice
    properties: {image: nginx, ports: [{port: 80}]}
    traits:
    - {type: scaler, properties: {replicas: 2}}
    - type: sidecar
      properties: {name: sidecar-test, image: fluentd}
  - name: backend
    type: worker
    properties:
      image: busybox
      cmd: [sleep, "1000"]`,
			[]string{"spec.components[0].properties.image=nginx", "spec.components[0].traits[1].properties.image=fluentd",
				"spec.components[1].properties.image=busybox"}},
	}
	// Built in, the fields are found without finding fields by name.
	noInfer := builtinWalk.with([]mirror.ImageField{{Exclude: true}}, nil)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, fieldPaths(t, builtinWalk, tc.doc)); diff != "" {
				t.Errorf("fields (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.want, fieldPaths(t, noInfer, tc.doc)); diff != "" {
				t.Errorf("fields without inference (-want +got):\n%s", diff)
			}
		})
	}
}

// TestDeclaredFieldsApart holds two walks that declare fields of the same
// built-in kind to their own fields: neither writes into the built-in
// fields they share.
func TestDeclaredFieldsApart(t *testing.T) {
	a := builtinWalk.with([]mirror.ImageField{{Kind: "Workflow", Path: "spec.a"}}, nil)
	b := builtinWalk.with([]mirror.ImageField{{Kind: "Workflow", Path: "spec.b"}}, nil)
	doc := "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nspec: {a: x, b: z}"
	for _, tc := range []struct {
		wk   *Walk
		want []string
	}{{a, []string{"spec.a=x"}}, {b, []string{"spec.b=z"}}, {builtinWalk, nil}} {
		if diff := cmp.Diff(tc.want, fieldPaths(t, tc.wk, doc)); diff != "" {
			t.Errorf("fields (-want +got):\n%s", diff)
		}
	}
}

// TestDeclaredFields covers fields that rules declare: matched by group
// and kind, read besides the built-in ones, and found once when a built-in
// field is declared again.
func TestDeclaredFields(t *testing.T) {
	wk := builtinWalk.with([]mirror.ImageField{
		{Group: "example.com", Kind: "Stage", Path: "spec.stages[].runner.image"},
		{Kind: "Bundle", Path: "spec.images[]"},
		{Group: "example.com", Path: "spec.*.sidecarImage"},
		{Kind: "Pool", Path: "spec.members[role=primary].image"},
		{Group: "argoproj.io", Kind: "Workflow", Path: "spec.templates[].container.image"},
	}, nil)
	tests := []struct {
		name, doc string
		want      []string
	}{
		{"by group and kind", "apiVersion: example.com/v1\nkind: Stage\nspec:\n  stages: [{name: a, runner: {image: r1}}, {name: b, runner: {image: r2}}]\n  containers: [{image: c}]",
			[]string{"spec.stages[0].runner.image=r1", "spec.stages[1].runner.image=r2", "spec.containers[0].image=c"}},
		{"another group", "apiVersion: other.io/v1\nkind: Stage\nspec:\n  stages: [{runner: {image: r1}}]", nil},
		{"a list of images, any group", "apiVersion: other.io/v1\nkind: Bundle\nspec:\n  images: [a, '', b]", []string{"spec.images[0]=a", "spec.images[2]=b"}},
		{"any key, any kind of the group", "apiVersion: example.com/v2\nkind: Other\nspec:\n  web: {sidecarImage: w}\n  metadata: {sidecarImage: m}\n  db: [{sidecarImage: d}]",
			[]string{"spec.web.sidecarImage=w"}},
		{"entries by a key's value", "apiVersion: x/v1\nkind: Pool\nspec:\n  members: [{role: replica, image: r}, {role: primary, image: p}]",
			[]string{"spec.members[1].image=p"}},
		{"a built-in field declared again", "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nspec:\n  templates: [{name: m, container: {image: c}}]",
			[]string{"spec.templates[0].container.image=c"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, fieldPaths(t, wk, tc.doc)); diff != "" {
				t.Errorf("fields (-want +got):\n%s", diff)
			}
		})
	}
	if got := fieldPaths(t, builtinWalk, tests[0].doc); len(got) != 1 {
		t.Errorf("the built-in walk finds %v in a Stage; want the container only", got)
	}
}

// TestFieldEntries checks the list and entry name of fields, which the
// webhook keys images by.
func TestFieldEntries(t *testing.T) {
	doc := `apiVersion: argoproj.io/v1alpha1
kind: Workflow
spec:
  templates:
  - name: main
    container: {image: c}
    initContainers: [{name: init, image: i}]
    steps:
    - - {name: inner, inline: {script: {image: s}}}
  templateDefaults: {container: {image: d}}`
	fields, err := Images(parse(t, doc))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range fields {
		got = append(got, f.Path.String()+" "+f.List+"/"+f.Name)
	}
	want := []string{
		"spec.templates[0].container.image templates/main",
		"spec.templates[0].initContainers[0].image initContainers/init",
		"spec.templates[0].steps[0][0].inline.script.image steps/inner",
		"spec.templateDefaults.container.image /",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("fields (-want +got):\n%s", diff)
	}
}

// TestPullNever covers images whose pull policy is Never: found, and
// marked to keep.
func TestPullNever(t *testing.T) {
	doc := `apiVersion: v1
kind: Pod
spec:
  containers:
  - {name: a, image: registry.k8s.io/pause:3.9, imagePullPolicy: Never}
  - {name: b, image: registry.k8s.io/pause:3.9, imagePullPolicy: IfNotPresent}
  volumes:
  - {name: v, image: {reference: quay.io/m:1, pullPolicy: Never}}
---
apiVersion: kubevirt.io/v1
kind: VirtualMachineInstance
spec:
  volumes: [{name: d, containerDisk: {image: quay.io/disk:1, imagePullPolicy: Never}}]
---
apiVersion: pkg.crossplane.io/v1
kind: Provider
spec: {package: xpkg.upbound.io/p:1, packagePullPolicy: Never}`
	var got []string
	for _, d := range strings.Split(doc, "---\n") {
		fields, err := Images(parse(t, d))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fields {
			line := f.Path.String()
			if f.Keep != nil {
				line += ": " + f.Keep.Error()
			}
			got = append(got, line)
		}
	}
	never := " is Never: the node must already hold the image under this name, so it is not mirrored"
	want := []string{
		"spec.containers[0].image: imagePullPolicy" + never,
		"spec.containers[1].image",
		"spec.volumes[0].image.reference: pullPolicy" + never,
		"spec.volumes[0].containerDisk.image: imagePullPolicy" + never,
		"spec.package: packagePullPolicy" + never,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("fields (-want +got):\n%s", diff)
	}
}

// TestPullNeverFromStepTemplate covers a Tekton step that takes its pull
// policy from the stepTemplate beside the steps, unless it has its own;
// sidecars take nothing from it.
func TestPullNeverFromStepTemplate(t *testing.T) {
	doc := `apiVersion: tekton.dev/v1
kind: Pipeline
spec:
  tasks:
  - name: t
    taskSpec:
      stepTemplate: {imagePullPolicy: Never}
      steps:
      - {name: a, image: quay.io/a:1}
      - {name: b, image: quay.io/b:1, imagePullPolicy: Always}
      sidecars:
      - {name: s, image: quay.io/s:1}
  - name: u
    taskSpec:
      steps: [{name: c, image: quay.io/c:1}]`
	fields, err := Images(parse(t, doc))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range fields {
		line := f.Path.String()
		if f.Keep != nil {
			line += ": " + f.Keep.(*PullNeverError).Short()
		}
		got = append(got, line)
	}
	want := []string{
		"spec.tasks[0].taskSpec.steps[0].image: stepTemplate.imagePullPolicy: Never",
		"spec.tasks[0].taskSpec.steps[1].image",
		"spec.tasks[0].taskSpec.sidecars[0].image",
		"spec.tasks[1].taskSpec.steps[0].image",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("fields (-want +got):\n%s", diff)
	}
}
