package manifest

import "kmirror.dev/kmirror/pkg/mirror"

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

// builtin is a set of paths that the objects of some kinds share.
type builtin struct {
	group  string
	kinds  []string
	paths  []string
	prefix string
	policy string
}

// Paths below a Tekton task spec, task or pipeline reference, pipeline
// spec (tektoncd/pipeline pkg/apis/pipeline/v1 and v1beta1). A bundle is
// the image of an OCI bundle that Tekton pulls, named by the old
// "bundle" field or by the bundles resolver's "bundle" parameter.
var (
	tektonTaskSpec = []string{"steps[].image", "sidecars[].image", "stepTemplate.image", "steps[].ref.params[name=bundle].value"}
	tektonRef      = []string{"bundle", "params[name=bundle].value"}
	tektonPipeline = join(
		under("tasks[].taskSpec.", tektonTaskSpec), under("finally[].taskSpec.", tektonTaskSpec),
		under("tasks[].taskRef.", tektonRef), under("finally[].taskRef.", tektonRef))
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
// (kubevirt/containerized-data-importer pkg/apis/core/v1beta1).
var (
	kubevirtVMI        = []string{"volumes[].containerDisk.image", "domain.firmware.kernelBoot.container.image"}
	cdiDataVolumeSpec  = []string{"source.registry.url"}
	kubevirtVMTemplate = under("template.spec.", kubevirtVMI)
)

var builtins = []builtin{
	{group: "tekton.dev", kinds: []string{"Task", "ClusterTask"}, paths: under("spec.", tektonTaskSpec)},
	{group: "tekton.dev", kinds: []string{"TaskRun"}, paths: join(under("spec.taskSpec.", tektonTaskSpec), under("spec.taskRef.", tektonRef))},
	{group: "tekton.dev", kinds: []string{"Pipeline"}, paths: under("spec.", tektonPipeline)},
	{group: "tekton.dev", kinds: []string{"PipelineRun"}, paths: join(under("spec.pipelineSpec.", tektonPipeline), under("spec.pipelineRef.", tektonRef))},
	{group: "tekton.dev", kinds: []string{"StepAction"}, paths: []string{"spec.image"}},

	{group: "argoproj.io", kinds: []string{"Workflow", "WorkflowTemplate", "ClusterWorkflowTemplate"}, paths: under("spec.", argoWorkflowSpec)},
	{group: "argoproj.io", kinds: []string{"CronWorkflow"}, paths: under("spec.workflowSpec.", argoWorkflowSpec)},

	{group: "kubevirt.io", kinds: []string{"VirtualMachineInstance"}, paths: under("spec.", kubevirtVMI)},
	{group: "kubevirt.io", kinds: []string{"VirtualMachine", "VirtualMachineInstanceReplicaSet"}, paths: under("spec.", kubevirtVMTemplate)},
	{group: "kubevirt.io", kinds: []string{"VirtualMachine"}, paths: under("spec.dataVolumeTemplates[].spec.", cdiDataVolumeSpec), prefix: "docker://"},
	{group: "pool.kubevirt.io", kinds: []string{"VirtualMachinePool"}, paths: under("spec.virtualMachineTemplate.spec.", kubevirtVMTemplate)},
	{group: "pool.kubevirt.io", kinds: []string{"VirtualMachinePool"}, paths: under("spec.virtualMachineTemplate.spec.dataVolumeTemplates[].spec.", cdiDataVolumeSpec), prefix: "docker://"},
	{group: "cdi.kubevirt.io", kinds: []string{"DataVolume", "VolumeImportSource"}, paths: under("spec.", cdiDataVolumeSpec), prefix: "docker://"},
	{group: "cdi.kubevirt.io", kinds: []string{"DataImportCron"}, paths: under("spec.template.spec.", cdiDataVolumeSpec), prefix: "docker://"},

	// KServe (kserve/kserve pkg/apis/serving): each framework of a
	// component (sklearn, model, huggingface, art, ...) is a container.
	// A storage URI oci://<image> is run as a "modelcar" container.
	{group: "serving.kserve.io", kinds: []string{"InferenceService"}, paths: []string{"spec.predictor.*.image", "spec.transformer.*.image", "spec.explainer.*.image"}},
	{group: "serving.kserve.io", kinds: []string{"InferenceService"}, paths: []string{"spec.predictor.*.storageUri"}, prefix: "oci://"},
	{group: "serving.kserve.io", kinds: []string{"ClusterStorageContainer"}, paths: []string{"spec.container.image"}},

	// Crossplane packages (crossplane/crossplane apis/pkg): an OCI image
	// that the package manager pulls.
	{group: "pkg.crossplane.io", kinds: []string{"Provider", "Configuration", "Function"}, paths: []string{"spec.package"}, policy: "packagePullPolicy"},
	{group: "pkg.crossplane.io", kinds: []string{"ControllerConfig"}, paths: []string{"spec.image"}},

	// Prometheus Operator (prometheus-operator/prometheus-operator
	// pkg/apis/monitoring/v1): the image of the server it runs.
	{group: "monitoring.coreos.com", kinds: []string{"Prometheus"}, paths: []string{"spec.image", "spec.thanos.image"}},
	{group: "monitoring.coreos.com", kinds: []string{"PrometheusAgent", "Alertmanager", "ThanosRuler"}, paths: []string{"spec.image"}},
}

// BuiltinFields returns the fields the walk reads in the objects of the
// kinds that hold images outside pod specs, one per kind and path.
func BuiltinFields() []FieldSpec {
	var out []FieldSpec
	for _, b := range builtins {
		for _, kind := range b.kinds {
			for _, p := range b.paths {
				out = append(out, FieldSpec{ImageField: mirror.ImageField{Group: b.group, Kind: kind, Path: p}, Prefix: b.prefix, Policy: b.policy})
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
