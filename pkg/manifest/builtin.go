package manifest

import (
	"slices"

	"kmirror.dev/kmirror/pkg/mirror"
)

// FieldSpec is an image field of the objects of a kind.
type FieldSpec struct {
	mirror.ImageField
	// Prefix is written before the image in the value, as "docker://" in
	// a CDI registry URL. A value that does not start with it holds no
	// image ("oci-archive://", "s3://"), and is not a field.
	Prefix string
	// Policy is the key of the image's pull policy, in the mapping that
	// holds the image; "" means "imagePullPolicy".
	Policy string
}

// PodSpecFields describes the fields the walk reads in every pod spec, or
// part of one, wherever it is in an object, whatever the kind.
var PodSpecFields = []string{
	"containers[].image", "initContainers[].image", "ephemeralContainers[].image", "volumes[].image.reference",
}

// FieldSet is a set of image fields that the objects of some kinds share,
// as the built-in fields are listed.
type FieldSet struct {
	Group  string
	Kinds  []string
	Paths  []string
	Prefix string
	Policy string
}

// Paths below a Tekton task spec, task or pipeline reference, pipeline
// spec (tektoncd/pipeline pkg/apis/pipeline/v1 and v1beta1). A bundle is
// the image of an OCI bundle that Tekton pulls, named by the old
// "bundle" field or by the bundles resolver's "bundle" parameter. A
// pipeline task may hold a whole pipeline ("pipelineSpec", pipelines in
// pipelines), at any depth.
var (
	tektonTaskSpec = []string{"steps[].image", "sidecars[].image", "stepTemplate.image", "steps[].ref.params[name=bundle].value"}
	tektonRef      = []string{"bundle", "params[name=bundle].value"}
	tektonPipeline = under("(*[].pipelineSpec)*.", join(
		under("tasks[].taskSpec.", tektonTaskSpec), under("finally[].taskSpec.", tektonTaskSpec),
		under("tasks[].taskRef.", tektonRef), under("finally[].taskRef.", tektonRef)))
)

// Paths below an Argo Workflows template (argoproj/argo-workflows
// pkg/apis/workflow/v1alpha1), and below a workflow spec: its templates,
// the templates written inline in their steps and DAG tasks, and the
// template defaults.
var (
	argoTemplate     = []string{"container.image", "script.image", "initContainers[].image", "sidecars[].image", "containerSet.containers[].image"}
	argoWorkflowSpec = join(
		under("templates[].", argoTemplate),
		under("templates[].steps[][].inline.", argoTemplate),
		under("templates[].dag.tasks[].inline.", argoTemplate),
		under("templateDefaults.", argoTemplate))
)

// Paths below a KubeVirt VirtualMachineInstance spec (kubevirt/kubevirt
// staging/src/kubevirt.io/api/core/v1), and below a CDI DataVolume spec
// (kubevirt/containerized-data-importer pkg/apis/core/v1beta1): a registry
// URL "docker://<image>", and the image that holds VMware's VDDK library,
// run as an init container.
var (
	kubevirtVMI        = []string{"volumes[].containerDisk.image", "domain.firmware.kernelBoot.container.image"}
	cdiDataVolumeSpec  = []string{"source.registry.url"}
	cdiVDDK            = []string{"source.vddk.initImageURL"}
	kubevirtVMTemplate = under("template.spec.", kubevirtVMI)
)

var builtinSets = []FieldSet{
	{Group: "tekton.dev", Kinds: []string{"Task", "ClusterTask"}, Paths: under("spec.", tektonTaskSpec)},
	{Group: "tekton.dev", Kinds: []string{"TaskRun"}, Paths: join(under("spec.taskSpec.", tektonTaskSpec), under("spec.taskRef.", tektonRef))},
	{Group: "tekton.dev", Kinds: []string{"Pipeline"}, Paths: under("spec.", tektonPipeline)},
	{Group: "tekton.dev", Kinds: []string{"PipelineRun"}, Paths: join(under("spec.pipelineSpec.", tektonPipeline), under("spec.pipelineRef.", tektonRef))},
	{Group: "tekton.dev", Kinds: []string{"StepAction"}, Paths: []string{"spec.image"}},

	{Group: "argoproj.io", Kinds: []string{"Workflow", "WorkflowTemplate", "ClusterWorkflowTemplate"}, Paths: under("spec.", argoWorkflowSpec)},
	{Group: "argoproj.io", Kinds: []string{"CronWorkflow"}, Paths: under("spec.workflowSpec.", argoWorkflowSpec)},

	{Group: "kubevirt.io", Kinds: []string{"VirtualMachineInstance"}, Paths: under("spec.", kubevirtVMI)},
	{Group: "kubevirt.io", Kinds: []string{"VirtualMachine", "VirtualMachineInstanceReplicaSet"}, Paths: under("spec.", kubevirtVMTemplate)},
	{Group: "kubevirt.io", Kinds: []string{"VirtualMachine"}, Paths: under("spec.dataVolumeTemplates[].spec.", cdiDataVolumeSpec), Prefix: "docker://"},
	{Group: "kubevirt.io", Kinds: []string{"VirtualMachine"}, Paths: under("spec.dataVolumeTemplates[].spec.", cdiVDDK)},
	{Group: "pool.kubevirt.io", Kinds: []string{"VirtualMachinePool"}, Paths: under("spec.virtualMachineTemplate.spec.", kubevirtVMTemplate)},
	{Group: "pool.kubevirt.io", Kinds: []string{"VirtualMachinePool"}, Paths: under("spec.virtualMachineTemplate.spec.dataVolumeTemplates[].spec.", cdiDataVolumeSpec), Prefix: "docker://"},
	{Group: "pool.kubevirt.io", Kinds: []string{"VirtualMachinePool"}, Paths: under("spec.virtualMachineTemplate.spec.dataVolumeTemplates[].spec.", cdiVDDK)},
	{Group: "cdi.kubevirt.io", Kinds: []string{"DataVolume", "VolumeImportSource"}, Paths: under("spec.", cdiDataVolumeSpec), Prefix: "docker://"},
	{Group: "cdi.kubevirt.io", Kinds: []string{"DataVolume", "VolumeImportSource"}, Paths: under("spec.", cdiVDDK)},
	{Group: "cdi.kubevirt.io", Kinds: []string{"DataImportCron"}, Paths: under("spec.template.spec.", cdiDataVolumeSpec), Prefix: "docker://"},

	// KServe (kserve/kserve pkg/apis/serving): each framework of a
	// component (sklearn, model, huggingface, art, ...) is a container.
	// A storage URI oci://<image> is run as a "modelcar" container;
	// oci+native:// mounts the image as a volume, oci+fetch:// copies it
	// in an init container.
	{Group: "serving.kserve.io", Kinds: []string{"InferenceService"}, Paths: []string{"spec.predictor.*.image", "spec.transformer.*.image", "spec.explainer.*.image"}},
	{Group: "serving.kserve.io", Kinds: []string{"InferenceService"}, Paths: []string{"spec.predictor.*.storageUri"}, Prefix: "oci://"},
	{Group: "serving.kserve.io", Kinds: []string{"InferenceService"}, Paths: []string{"spec.predictor.*.storageUri"}, Prefix: "oci+native://"},
	{Group: "serving.kserve.io", Kinds: []string{"InferenceService"}, Paths: []string{"spec.predictor.*.storageUri"}, Prefix: "oci+fetch://"},
	{Group: "serving.kserve.io", Kinds: []string{"ClusterStorageContainer"}, Paths: []string{"spec.container.image"}},

	// CloudNativePG (cloudnative-pg/cloudnative-pg api/v1): the
	// PostgreSQL image of a Cluster, or of a major version in a
	// catalog; extensions mounted as image volumes; PgBouncer's image.
	{Group: "postgresql.cnpg.io", Kinds: []string{"Cluster"}, Paths: []string{"spec.imageName"}},
	{Group: "postgresql.cnpg.io", Kinds: []string{"Cluster"}, Paths: []string{"spec.postgresql.extensions[].image.reference"}, Policy: "pullPolicy"},
	{Group: "postgresql.cnpg.io", Kinds: []string{"ImageCatalog", "ClusterImageCatalog"}, Paths: []string{"spec.images[].image", "spec.componentImages[].image"}},
	{Group: "postgresql.cnpg.io", Kinds: []string{"Pooler"}, Paths: []string{"spec.pgbouncer.image"}},

	// Shipwright (shipwright-io/build pkg/apis/build/v1beta1): the steps
	// of a build strategy ("buildSteps" in v1alpha1), and source code
	// shipped as an image. A build's output is where it pushes, not an
	// image to pull.
	{Group: "shipwright.io", Kinds: []string{"BuildStrategy", "ClusterBuildStrategy"}, Paths: []string{"spec.steps[].image", "spec.buildSteps[].image"}},
	{Group: "shipwright.io", Kinds: []string{"Build"}, Paths: []string{"spec.source.ociArtifact.image"}},
	{Group: "shipwright.io", Kinds: []string{"BuildRun"}, Paths: []string{"spec.build.spec.source.ociArtifact.image"}},

	// Operator Lifecycle Manager v1 (operator-framework/operator-controller
	// api/v1): the catalog image that catalogd pulls and serves.
	{Group: "olm.operatorframework.io", Kinds: []string{"ClusterCatalog"}, Paths: []string{"spec.source.image.ref"}},

	// KubeVela (kubevela/kubevela): a component's "image" property, as
	// the webservice, worker and task types take it, and a sidecar
	// trait's. Its examples write bare names ("nginx"), which finding by
	// name would take for a VM image's.
	{Group: "core.oam.dev", Kinds: []string{"Application"}, Paths: []string{"spec.components[].properties.image", "spec.components[].traits[].properties.image"}},

	// Crossplane packages (crossplane/crossplane apis/pkg): an OCI image
	// that the package manager pulls.
	{Group: "pkg.crossplane.io", Kinds: []string{"Provider", "Configuration", "Function"}, Paths: []string{"spec.package"}, Policy: "packagePullPolicy"},
	{Group: "pkg.crossplane.io", Kinds: []string{"ControllerConfig"}, Paths: []string{"spec.image"}},

	// Prometheus Operator (prometheus-operator/prometheus-operator
	// pkg/apis/monitoring/v1): the image of the server it runs.
	{Group: "monitoring.coreos.com", Kinds: []string{"Prometheus"}, Paths: []string{"spec.image", "spec.thanos.image"}},
	{Group: "monitoring.coreos.com", Kinds: []string{"PrometheusAgent", "Alertmanager", "ThanosRuler"}, Paths: []string{"spec.image"}},
}

// inheritedPolicy names, by group, the lists whose entries take the pull
// policy of a template beside the list when they have none of their own:
// a Tekton step is its stepTemplate merged with the step.
var inheritedPolicy = map[string]map[string]string{
	"tekton.dev": {"steps": "stepTemplate"},
}

// BuiltinFieldSets returns the built-in fields, as sets of paths that
// some kinds share.
func BuiltinFieldSets() []FieldSet {
	out := make([]FieldSet, len(builtinSets))
	for i, b := range builtinSets {
		out[i] = b
		out[i].Kinds, out[i].Paths = slices.Clone(b.Kinds), slices.Clone(b.Paths)
	}
	return out
}

// BuiltinFields returns the fields the walk reads in the objects of the
// kinds that hold images outside pod specs, one per kind and path.
func BuiltinFields() []FieldSpec {
	var out []FieldSpec
	for _, b := range builtinSets {
		for _, kind := range b.Kinds {
			for _, p := range b.Paths {
				out = append(out, FieldSpec{ImageField: mirror.ImageField{Group: b.Group, Kind: kind, Path: p}, Prefix: b.Prefix, Policy: b.Policy})
			}
		}
	}
	return out
}

// under returns paths, each after prefix.
func under(prefix string, paths []string) []string {
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = prefix + p
	}
	return out
}

func join(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}
