package cmd

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"kmirror.dev/kmirror/pkg/mirrorsync"
)

// TestManifestsSyncJob runs what each Pod of the sync Job runs, with the
// files of its ConfigMap: the shards copy every image of the list once
// between them, and their logs merge into the run's summary.
func TestManifestsSyncJob(t *testing.T) {
	host, rules := syncRegistry(t)
	var list []string
	for r := range 5 {
		img := fmt.Sprintf("%s/src/job%d:1", host, r)
		pushImage(t, img, uint64(100+r))
		list = append(list, img)
	}
	dir := t.TempDir()
	listFile := write(t, dir, "images.txt", "# the fleet\n"+strings.Join(list, "\n")) // no line break at the end
	extra := write(t, dir, "more.txt", host+"/src/app:1\n")
	stdout, stderr, code := run(t, "", "manifests", "--sync-job", "--images", listFile, "--images", extra, "--rules", rules,
		"--shards", "3", "--parallelism", "2", "--schedule", "0 4 * * *", "--namespace", "mirror", "--image", "registry.example.com/kmirror:v1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	objs := objects(t, stdout)
	var kinds []string
	for _, o := range objs {
		kinds = append(kinds, o.GetKind())
	}
	if diff := cmp.Diff([]string{"Namespace", "ServiceAccount", "ConfigMap", "CronJob"}, kinds); diff != "" {
		t.Fatalf("kinds (-want +got):\n%s", diff)
	}
	cronJob := objs[3]
	if got := field(t, cronJob, "spec", "schedule"); got != "0 4 * * *" {
		t.Errorf("schedule %q", got)
	}
	job := []string{"spec", "jobTemplate", "spec"}
	if c, p := field(t, cronJob, append(job, "completions")...), field(t, cronJob, append(job, "parallelism")...); c != "3" || p != "2" {
		t.Errorf("completions %s, parallelism %s", c, p)
	}
	// The ConfigMap's files, where the Pods mount them.
	data, err := objs[2].Pipe(yaml.Lookup("data"))
	if err != nil {
		t.Fatal(err)
	}
	files := t.TempDir()
	for _, key := range []string{"images.txt", "rules.yaml"} {
		f := data.Field(key)
		if f == nil {
			t.Fatalf("the ConfigMap has no %s", key)
		}
		write(t, files, key, f.Value.YNode().Value)
	}
	if got := read(t, filepath.Join(files, "images.txt")); got != "# the fleet\n"+strings.Join(list, "\n")+"\n"+host+"/src/app:1\n" {
		t.Errorf("the ConfigMap's list:\n%s", got)
	}
	args, err := cronJob.Pipe(yaml.Lookup(append(job, "template", "spec", "containers", "[name=kmirror]", "args")...))
	if err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	seen := map[string]int{}
	for index := range 3 {
		var podArgs []string
		for _, n := range args.YNode().Content {
			a := strings.ReplaceAll(n.Value, "$(JOB_COMPLETION_INDEX)", fmt.Sprint(index))
			podArgs = append(podArgs, strings.ReplaceAll(a, "/etc/kmirror/sync", files))
		}
		out, errOut, code := run(t, "", append(podArgs, "--plain-http", host)...)
		if code != 0 || errOut != "" {
			t.Fatalf("shard %d: exit %d\n%s", index, code, errOut)
		}
		var rep mirrorsync.Report
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("shard %d's log is not its report: %v\n%s", index, err, out)
		}
		for _, img := range rep.Images {
			seen[img.Source]++
		}
		logs.WriteString(out)
	}
	for _, img := range append(list, host+"/src/app:1") {
		if seen[img] != 1 {
			t.Errorf("%s was copied by %d shards", img, seen[img])
		}
	}
	out, errOut, code := run(t, logs.String(), "sync", "--merge-reports", "-")
	if code != 0 || !strings.HasPrefix(out, "copied 6 images (") {
		t.Errorf("merge: exit %d\n%s%s", code, out, errOut)
	}
}

// TestManifestsSyncJobAWS: --service-account-annotation annotates the sync
// Job's ServiceAccount (IRSA), the ECR flags go to its kmirror sync, and
// --iam-policy prints the policy of sync.
func TestManifestsSyncJobAWS(t *testing.T) {
	list := write(t, t.TempDir(), "images.txt", "nginx:1.25\n")
	stdout, stderr, code := run(t, "", "manifests", "--sync-job", "--images", list,
		"--service-account-annotation", "eks.amazonaws.com/role-arn=arn:aws:iam::123456789012:role/kmirror-sync",
		"--ecr", "vpce.example.com", "--ecr-region", "eu-west-1", "--create-repositories=false")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	objs := objects(t, stdout)
	if got := field(t, objs[1], "metadata", "annotations", "eks.amazonaws.com/role-arn"); got != "arn:aws:iam::123456789012:role/kmirror-sync" || objs[1].GetName() != "kmirror-sync" {
		t.Errorf("the ServiceAccount %s has the role %q", objs[1].GetName(), got)
	}
	args := field(t, objs[3], "spec", "jobTemplate", "spec", "template", "spec", "containers", "[name=kmirror]", "args")
	for _, want := range []string{"--ecr=vpce.example.com", "--ecr-region=eu-west-1", "--create-repositories=false"} {
		if !strings.Contains(args, want) {
			t.Errorf("the sync arguments lack %s:\n%s", want, args)
		}
	}
	// The arguments are kmirror sync's own.
	var values []string
	for _, line := range strings.Split(args, "\n") {
		values = append(values, strings.TrimPrefix(line, "- "))
	}
	o := &SyncOptions{}
	fs := pflag.NewFlagSet("sync", pflag.ContinueOnError)
	o.AddFlags(fs)
	if err := fs.Parse(values[1:]); err != nil {
		t.Errorf("sync %v: %v", values, err)
	}
	stdout, stderr, code = run(t, "", "manifests", "--sync-job", "--iam-policy", "--rules", write(t, t.TempDir(), "rules.yaml",
		"apiVersion: kmirror.dev/v1alpha1\nkind: MirrorRules\nmetadata: {name: ecr}\nspec:\n  mirrors:\n  - {from: quay.io/, to: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/quay/}\n"))
	if code != 0 || !strings.Contains(stdout, "ecr:PutImage") {
		t.Errorf("--iam-policy with --sync-job: exit %d\n%s%s", code, stdout, stderr)
	}
}

func TestManifestsSyncJobErrors(t *testing.T) {
	dir := t.TempDir()
	list := write(t, dir, "images.txt", "nginx:1.25\n")
	bad := write(t, dir, "bad.txt", "nginx:1.25\nnginx:1 redis:7\n")
	none := write(t, dir, "none.txt", "direct.to/nginx:1\n")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--images", list}, "--images is for the sync Job: add --sync-job"},
		{[]string{"--shards", "2"}, "--shards is for the sync Job"},
		{[]string{"--sync-job"}, "--sync-job needs --images"},
		{[]string{"--sync-job", "--images", list, "--swap-policy", "exists"}, "--swap-policy is for the webhook"},
		{[]string{"--sync-job", "--images", list, "--shards", "0"}, "at least 1 shard"},
		{[]string{"--sync-job", "--images", list, "--shards", "2", "--parallelism", "3"}, "from 1 to 2 shards at once"},
		{[]string{"--sync-job", "--images", bad}, bad + ":2: one image per line"},
		{[]string{"--sync-job", "--images", none}, "holds no image that the rules send to the mirror"},
		{[]string{"--sync-job", "--images", filepath.Join(dir, "missing")}, "reading the image list"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			stdout, stderr, code := run(t, "", append([]string{"manifests"}, tc.args...)...)
			if code != 2 || stdout != "" || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want 2 and %q", code, stdout, stderr, tc.want)
			}
		})
	}
}
