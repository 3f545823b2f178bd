package install

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Names of the sync Job's objects. Its Pods carry labels of their own:
// the webhook's Service and PodDisruptionBudget select
// app.kubernetes.io/name=kmirror, and must not count them.
const (
	// SyncName names the CronJob, its ServiceAccount and its ConfigMap.
	SyncName = Name + "-sync"
	// DefaultSchedule is when the CronJob runs unless told otherwise.
	DefaultSchedule = "@daily"
	// MaxSyncList bounds the image list, with the rules: a ConfigMap holds
	// at most 1 MiB, and the object needs room besides its data.
	MaxSyncList = 1000 << 10
	// ExitTrouble is kmirror sync's exit status for trouble that every
	// shard would meet (rules, flags, the list), which fails the Job at
	// once.
	ExitTrouble = 2
)

// Where the sync Job mounts its files.
const (
	syncDir   = "/etc/kmirror/sync"
	syncList  = "images.txt"
	syncRules = "rules.yaml"
)

// SyncJob says what the CronJob of "kmirror manifests --sync-job" runs:
// "kmirror sync" over an image list, in Shards Pods of an Indexed Job,
// Parallelism of them at once, each Pod the shard of its index.
type SyncJob struct {
	// Schedule is the CronJob's, in cron syntax; "" is DefaultSchedule.
	Schedule string
	// List is the image list, as "kmirror images -o mirror-list" writes
	// it, shipped in a ConfigMap with the rules.
	List []byte
	// Shards is the number of shards, the Job's completions.
	Shards int
	// Parallelism is how many shards run at once; zero is Shards.
	Parallelism int
	// RegistrySecret, when set, names a Secret of type
	// kubernetes.io/dockerconfigjson in the namespace, with the
	// credentials of the mirror and the sources, mounted as the Docker
	// config of kmirror sync. Without it the Pods have the credentials
	// that their ServiceAccount gives them (IRSA on EKS), or none.
	RegistrySecret string
}

// Validate checks the Job's options.
func (j *SyncJob) Validate() error {
	switch {
	case j.Shards < 1:
		return fmt.Errorf("the sync Job needs at least 1 shard, not %d", j.Shards)
	case j.Parallelism < 0 || j.Parallelism > j.Shards:
		return fmt.Errorf("the sync Job runs from 1 to %d shards at once, not %d", j.Shards, j.Parallelism)
	case len(strings.TrimSpace(string(j.List))) == 0:
		return errors.New("the sync Job needs an image list")
	case j.RegistrySecret != "":
		if errs := validation.IsDNS1123Subdomain(j.RegistrySecret); len(errs) > 0 {
			return fmt.Errorf("registry Secret %q: %s", j.RegistrySecret, strings.Join(errs, "; "))
		}
	}
	return nil
}

// SyncObjects returns the objects that run "kmirror sync" in the cluster
// on a schedule, in order: the Namespace, a ServiceAccount, a ConfigMap
// with the image list and the rules, and the CronJob. The namespace, image
// and rules are those of o.
//
// The CronJob's Job is an Indexed Job: Pod I runs "kmirror sync --shard
// I/N -o json -q", so its log is its shard's report, and
// "kmirror sync --merge-reports" joins them. A shard whose images did not
// all copy fails its Pod, and is run once more (backoffLimitPerIndex: 1)
// while the others go on; the Job succeeds only when every shard did.
// Trouble that every shard would meet (exit status 2: rules, list) fails
// the Job at once, and a Pod evicted from its node is run again without
// counting as a failure. Runs do not overlap (concurrencyPolicy: Forbid).
//
// The ServiceAccount is made as the webhook's is, under its own name, so
// that o.ServiceAccountAnnotations (an IRSA role) go on it too, for the
// sync Job's own role. o.ECRArgs go to kmirror sync, which takes them
// all, and o.ECRSettings to the ConfigMap, for the repositories sync
// creates.
func SyncObjects(o Options, j SyncJob) ([]any, error) {
	if o.Namespace == "" || o.Image == "" || len(o.Rules) == 0 {
		return nil, errors.New("the sync Job needs a namespace, an image and rules")
	}
	if err := j.Validate(); err != nil {
		return nil, err
	}
	if errs := apivalidation.ValidateAnnotations(o.ServiceAccountAnnotations, field.NewPath("metadata", "annotations")); len(errs) > 0 {
		return nil, fmt.Errorf("ServiceAccount annotations: %w", errs.ToAggregate())
	}
	if n := len(j.List) + len(o.Rules) + len(o.ECRSettings); n > MaxSyncList {
		return nil, fmt.Errorf("the image list and the rules are %d bytes; a ConfigMap holds at most %d KiB of them: split the list over several Jobs", n, MaxSyncList>>10)
	}
	if j.Schedule == "" {
		j.Schedule = DefaultSchedule
	}
	if j.Parallelism == 0 {
		j.Parallelism = j.Shards
	}
	sa := serviceAccount(o)
	sa.Name, sa.Labels = SyncName, syncLabels()
	return []any{namespace(o), sa, syncConfigMap(o, j), cronJob(o, j)}, nil
}

func syncLabels() map[string]string {
	return map[string]string{"app.kubernetes.io/name": SyncName}
}

func syncMeta(o Options, kind, apiVersion string) (metav1.TypeMeta, metav1.ObjectMeta) {
	return metav1.TypeMeta{Kind: kind, APIVersion: apiVersion},
		metav1.ObjectMeta{Name: SyncName, Namespace: o.Namespace, Labels: syncLabels()}
}

func syncConfigMap(o Options, j SyncJob) *corev1.ConfigMap {
	tm, om := syncMeta(o, "ConfigMap", "v1")
	data := map[string]string{syncList: string(j.List), syncRules: string(o.Rules)}
	if len(o.ECRSettings) > 0 {
		data[ecrSettingsFile] = string(o.ECRSettings)
	}
	return &corev1.ConfigMap{TypeMeta: tm, ObjectMeta: om, Data: data}
}

func cronJob(o Options, j SyncJob) *batchv1.CronJob {
	tm, om := syncMeta(o, "CronJob", "batch/v1")
	podLabels := syncLabels()
	// kmirror's own Pods are never sent to the webhook: its image must be
	// pulled as written.
	podLabels[OptOutLabel] = OptOutValue
	return &batchv1.CronJob{TypeMeta: tm, ObjectMeta: om, Spec: batchv1.CronJobSpec{
		Schedule: j.Schedule,
		// A run that overlapped the last would copy the same images.
		ConcurrencyPolicy:          batchv1.ForbidConcurrent,
		SuccessfulJobsHistoryLimit: ptr(int32(3)),
		FailedJobsHistoryLimit:     ptr(int32(3)),
		JobTemplate: batchv1.JobTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: syncLabels()},
			Spec: batchv1.JobSpec{
				CompletionMode:       ptr(batchv1.IndexedCompletion),
				Completions:          ptr(int32(j.Shards)),
				Parallelism:          ptr(int32(j.Parallelism)),
				BackoffLimitPerIndex: ptr(int32(1)),
				PodFailurePolicy: &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{
					{Action: batchv1.PodFailurePolicyActionFailJob, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{
						ContainerName: ptr(Name), Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{ExitTrouble},
					}},
					{Action: batchv1.PodFailurePolicyActionIgnore, OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{
						{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue},
					}},
				}},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: podLabels},
					Spec:       syncPodSpec(o, j),
				},
			},
		},
	}}
}

func syncPodSpec(o Options, j SyncJob) corev1.PodSpec {
	volumes := []corev1.Volume{{Name: "sync", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
		LocalObjectReference: corev1.LocalObjectReference{Name: SyncName},
	}}}}
	mounts := []corev1.VolumeMount{{Name: "sync", MountPath: syncDir, ReadOnly: true}}
	env := []corev1.EnvVar{{
		// The Job controller sets it too; said here, the arguments do
		// not depend on that.
		Name: "JOB_COMPLETION_INDEX",
		ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{
			FieldPath: "metadata.annotations['" + batchv1.JobCompletionIndexAnnotation + "']",
		}},
	}}
	if j.RegistrySecret != "" {
		volumes = append(volumes, corev1.Volume{Name: "registry", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: j.RegistrySecret,
			Items:      []corev1.KeyToPath{{Key: corev1.DockerConfigJsonKey, Path: registryFile}},
		}}})
		mounts = append(mounts, corev1.VolumeMount{Name: "registry", MountPath: registryDir, ReadOnly: true})
		env = append(env, corev1.EnvVar{Name: "DOCKER_CONFIG", Value: registryDir})
	}
	return corev1.PodSpec{
		RestartPolicy:      corev1.RestartPolicyNever,
		ServiceAccountName: SyncName,
		// kmirror sync never calls the API server. IRSA mounts a token
		// of its own.
		AutomountServiceAccountToken: ptr(false),
		SecurityContext: &corev1.PodSecurityContext{
			RunAsNonRoot:   ptr(true),
			RunAsUser:      ptr(int64(uid)),
			RunAsGroup:     ptr(int64(uid)),
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		Containers: []corev1.Container{{
			Name:            Name,
			Image:           o.Image,
			ImagePullPolicy: corev1.PullIfNotPresent,
			Args:            syncArgs(o, j),
			Env:             env,
			Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{
					corev1.ResourceCPU:    resource.MustParse("100m"),
					corev1.ResourceMemory: resource.MustParse("128Mi"),
				},
				// Blobs stream from the source to the mirror, never
				// held whole.
				Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("512Mi")},
			},
			SecurityContext: &corev1.SecurityContext{
				AllowPrivilegeEscalation: ptr(false),
				ReadOnlyRootFilesystem:   ptr(true),
				Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			},
			VolumeMounts: mounts,
		}},
		Volumes: volumes,
	}
}

// syncArgs are SyncArgs with the ECR flags of o.
func syncArgs(o Options, j SyncJob) []string {
	args := append(SyncArgs(j.Shards), o.ECRArgs...)
	if len(o.ECRSettings) > 0 {
		args = append(args, "--ecr-repository-settings="+syncDir+"/"+ecrSettingsFile)
	}
	return args
}

// SyncArgs are the arguments of kmirror sync in a Pod of the Job of
// shards: its shard, from the Pod's completion index; the list and rules
// of the ConfigMap; the report in JSON and nothing else, so that the Pod's
// log is its shard's report.
func SyncArgs(shards int) []string {
	return []string{
		"sync",
		"--shard=$(JOB_COMPLETION_INDEX)/" + strconv.Itoa(shards),
		"--images=" + syncDir + "/" + syncList,
		"--rules=" + syncDir + "/" + syncRules,
		"--output=json",
		"--quiet",
	}
}
