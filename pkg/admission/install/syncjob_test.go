package install

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"kmirror.dev/kmirror/rules"
)

func syncObjects(t *testing.T, j SyncJob) []any {
	t.Helper()
	eng, err := rules.Load("")
	if err != nil {
		t.Fatal(err)
	}
	data, err := rules.Encode(eng.Rules())
	if err != nil {
		t.Fatal(err)
	}
	objs, err := SyncObjects(Options{Namespace: "mirror", Image: "registry.example.com/kmirror:v1", Rules: data}, j)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func TestSyncJob(t *testing.T) {
	objs := syncObjects(t, SyncJob{List: []byte("nginx:1.25\n"), Shards: 6, Parallelism: 2, RegistrySecret: "mirror-creds"})
	var kinds []string
	for _, o := range objs {
		kinds = append(kinds, reflect.ValueOf(o).Elem().FieldByName("Kind").String())
	}
	if diff := cmp.Diff([]string{"Namespace", "ServiceAccount", "ConfigMap", "CronJob"}, kinds); diff != "" {
		t.Errorf("kinds (-want +got):\n%s", diff)
	}
	cj := find[*batchv1.CronJob](t, objs)
	job := cj.Spec.JobTemplate.Spec
	pod := job.Template.Spec
	c := pod.Containers[0]
	checks := map[string]bool{
		"the default schedule":              cj.Spec.Schedule == DefaultSchedule,
		"no overlapping runs":               cj.Spec.ConcurrencyPolicy == batchv1.ForbidConcurrent,
		"an Indexed Job":                    *job.CompletionMode == batchv1.IndexedCompletion,
		"a Pod per shard":                   *job.Completions == 6,
		"two at once":                       *job.Parallelism == 2,
		"a failed shard runs once more":     *job.BackoffLimitPerIndex == 1 && job.BackoffLimit == nil,
		"Pods are not restarted in place":   pod.RestartPolicy == corev1.RestartPolicyNever,
		"its own ServiceAccount":            pod.ServiceAccountName == SyncName,
		"no API token":                      !*pod.AutomountServiceAccountToken,
		"the image":                         c.Image == "registry.example.com/kmirror:v1",
		"the shard of the completion index": slices.Contains(c.Args, "--shard=$(JOB_COMPLETION_INDEX)/6"),
		"the report alone on stdout":        slices.Contains(c.Args, "--output=json") && slices.Contains(c.Args, "--quiet"),
		"a read-only root":                  *c.SecurityContext.ReadOnlyRootFilesystem,
		"a non-root user":                   *pod.SecurityContext.RunAsNonRoot,
		"a memory limit":                    !c.Resources.Limits.Memory().IsZero(),
		"the Docker config of the Secret": slices.Contains(c.Env, corev1.EnvVar{Name: "DOCKER_CONFIG", Value: registryDir}) &&
			pod.Volumes[1].Secret.SecretName == "mirror-creds" && pod.Volumes[1].Secret.Items[0].Path == "config.json",
		"the completion index from the Pod's annotation": c.Env[0].Name == "JOB_COMPLETION_INDEX" &&
			c.Env[0].ValueFrom.FieldRef.FieldPath == "metadata.annotations['batch.kubernetes.io/job-completion-index']",
	}
	for what, ok := range checks {
		if !ok {
			t.Errorf("the sync Job lacks %s", what)
		}
	}
	// Trouble every shard would meet fails the Job; a Pod evicted is run
	// again; a shard that failed is run once more (no rule).
	rules := job.PodFailurePolicy.Rules
	if len(rules) != 2 || rules[0].Action != batchv1.PodFailurePolicyActionFailJob || !slices.Equal(rules[0].OnExitCodes.Values, []int32{ExitTrouble}) ||
		rules[1].Action != batchv1.PodFailurePolicyActionIgnore || rules[1].OnPodConditions[0].Type != corev1.DisruptionTarget {
		t.Errorf("pod failure policy: %+v", job.PodFailurePolicy)
	}
	// The list and the rules are where the arguments read them.
	cm := find[*corev1.ConfigMap](t, objs)
	for _, arg := range c.Args {
		if name, path, ok := strings.Cut(arg, "=/etc/kmirror/sync/"); ok && name != "" {
			if _, ok := cm.Data[path]; !ok {
				t.Errorf("%s reads %s, which the ConfigMap lacks", arg, path)
			}
		}
	}
	if cm.Data[syncList] != "nginx:1.25\n" || !strings.Contains(cm.Data[syncRules], "kind: MirrorRules") {
		t.Errorf("ConfigMap data: %v", cm.Data)
	}
	// The webhook's Service and PodDisruptionBudget select its own Pods,
	// never the sync Job's.
	webhook := labels.SelectorFromSet(appLabels())
	if webhook.Matches(labels.Set(job.Template.Labels)) || job.Template.Labels[OptOutLabel] != OptOutValue {
		t.Errorf("sync Pods are labelled %v", job.Template.Labels)
	}
}

// TestSyncServiceAccount: the sync Job's ServiceAccount is the webhook's,
// under its own name, with the webhook's annotations (an IRSA role); the
// ECR flags go to kmirror sync, and the ECR settings to its ConfigMap.
func TestSyncServiceAccount(t *testing.T) {
	o := Options{Namespace: "mirror", Image: "kmirror:v1", Rules: []byte("x"),
		ServiceAccountAnnotations: map[string]string{"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/kmirror-sync"},
		ECRArgs:                   []string{"--ecr=vpce.example.com", "--ecr-region=eu-west-1"},
		ECRSettings:               []byte("scanOnPush: true\n"),
	}
	objs, err := SyncObjects(o, SyncJob{List: []byte("a:1\n"), Shards: 1})
	if err != nil {
		t.Fatal(err)
	}
	got := find[*corev1.ServiceAccount](t, objs)
	want := serviceAccount(o)
	want.Name, want.Labels = SyncName, syncLabels()
	if diff := cmp.Diff(want, got); diff != "" || got.Annotations["eks.amazonaws.com/role-arn"] == "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	job := find[*batchv1.CronJob](t, objs).Spec.JobTemplate.Spec
	if *job.Parallelism != 1 || len(job.Template.Spec.Volumes) != 1 {
		t.Errorf("one shard, no Secret: %+v", job)
	}
	args := job.Template.Spec.Containers[0].Args
	for _, want := range []string{"--ecr=vpce.example.com", "--ecr-region=eu-west-1", "--ecr-repository-settings=/etc/kmirror/sync/" + ecrSettingsFile} {
		if !slices.Contains(args, want) {
			t.Errorf("the sync arguments %v lack %s", args, want)
		}
	}
	if cm := find[*corev1.ConfigMap](t, objs); cm.Data[ecrSettingsFile] != "scanOnPush: true\n" {
		t.Errorf("the ConfigMap lacks the ECR settings: %v", cm.Data)
	}
	o.ServiceAccountAnnotations = map[string]string{"bad key!": "x"}
	if _, err := SyncObjects(o, SyncJob{List: []byte("a:1\n"), Shards: 1}); err == nil || !strings.Contains(err.Error(), "ServiceAccount annotations") {
		t.Errorf("a bad annotation: %v", err)
	}
}

func TestSyncJobValidate(t *testing.T) {
	o := Options{Namespace: "mirror", Image: "kmirror:v1", Rules: []byte("x")}
	for _, tc := range []struct {
		name string
		o    Options
		j    SyncJob
		want string
	}{
		{"no shard", o, SyncJob{List: []byte("a:1"), Shards: 0}, "at least 1 shard"},
		{"more at once than shards", o, SyncJob{List: []byte("a:1"), Shards: 2, Parallelism: 3}, "from 1 to 2 shards at once, not 3"},
		{"no list", o, SyncJob{List: []byte("\n \n"), Shards: 2}, "needs an image list"},
		{"a list too long", o, SyncJob{List: []byte(strings.Repeat("registry.example.com/team/app:1\n", 40000)), Shards: 2}, "a ConfigMap holds at most 1000 KiB"},
		{"a bad Secret name", o, SyncJob{List: []byte("a:1"), Shards: 2, RegistrySecret: "Creds"}, `registry Secret "Creds"`},
		{"no image", Options{Namespace: "mirror", Rules: []byte("x")}, SyncJob{List: []byte("a:1"), Shards: 2}, "needs a namespace, an image and rules"},
	} {
		if _, err := SyncObjects(tc.o, tc.j); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}
