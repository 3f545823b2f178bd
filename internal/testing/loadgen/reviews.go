package loadgen

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// images is what the generated containers run: sources of each rule of the
// default preset, Docker Hub in its spellings, escaped images, images
// already on the mirror, and registries no rule covers.
var images = []string{
	"k8s.gcr.io/coredns:1.3.1",
	"registry.k8s.io/kube-proxy:v1.30.2",
	"gcr.io/google-containers/pause:3.2",
	"gcr.io/distroless/static:nonroot",
	"quay.io/prometheus/node-exporter:v1.8.1",
	"602401143452.dkr.ecr.us-west-2.amazonaws.com/amazon-k8s-cni:v1.18.1",
	"nginx:1.27",
	"docker.io/library/redis:7.2",
	"bitnami/postgresql:16.3.0",
	"direct.to/busybox:1.36",
	"048912060910.dkr.ecr.cn-northwest-1.amazonaws.com.cn/dockerhub/library/nginx:1.27",
	"registry.example.com/team/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
}

// Reviews returns n AdmissionReview requests (admission.k8s.io/v1, CREATE)
// of Pods with 3 to 6 containers, in JSON, as the API server sends them:
// defaults filled in, managed fields, a service account volume. The same
// seed gives the same reviews.
func Reviews(n int, seed uint64) [][]byte {
	rng := rand.New(rand.NewPCG(seed, seed))
	return ReviewsOf(n, rng, func() string { return images[rng.IntN(len(images))] })
}

// ReviewsOf is Reviews with the images image returns, one per container.
func ReviewsOf(n int, rng *rand.Rand, image func() string) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		pod := podOf(rng, fmt.Sprintf("web-%d", i), image)
		raw, err := json.Marshal(pod)
		if err != nil {
			panic(err) // a Pod always marshals
		}
		review := admissionv1.AdmissionReview{
			TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
			Request: &admissionv1.AdmissionRequest{
				UID:       types.UID(fmt.Sprintf("00000000-0000-4000-8000-%012d", i)),
				Kind:      metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
				Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
				Name:      pod.Name,
				Namespace: pod.Namespace,
				Operation: admissionv1.Create,
				Object:    runtime.RawExtension{Raw: raw},
			},
		}
		review.Request.UserInfo.Username = "system:serviceaccount:kube-system:replicaset-controller"
		review.Request.UserInfo.Groups = []string{"system:serviceaccounts", "system:authenticated"}
		if out[i], err = json.Marshal(review); err != nil {
			panic(err)
		}
	}
	return out
}

// Pod returns a Pod with 3 to 6 containers, the first of them an init
// container when there are more than 3.
func Pod(rng *rand.Rand, name string) *corev1.Pod {
	return podOf(rng, name, func() string { return images[rng.IntN(len(images))] })
}

func podOf(rng *rand.Rand, name string, image func() string) *corev1.Pod {
	n := 3 + rng.IntN(4)
	pod := &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{
			Name:         name,
			GenerateName: "web-7d9c8b6f5-",
			Namespace:    "shop",
			Labels:       map[string]string{"app.kubernetes.io/name": "web", "app.kubernetes.io/part-of": "shop", "pod-template-hash": "7d9c8b6f5"},
			Annotations:  map[string]string{"kubectl.kubernetes.io/restartedAt": "2025-01-01T00:00:00Z"},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-7d9c8b6f5",
				UID: "8a1b2c3d-0000-4000-8000-000000000001", Controller: ptr(true), BlockOwnerDeletion: ptr(true),
			}},
			ManagedFields: []metav1.ManagedFieldsEntry{{
				Manager: "kube-controller-manager", Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "v1",
				FieldsType: "FieldsV1",
				FieldsV1:   &metav1.FieldsV1{Raw: []byte(`{"f:metadata":{"f:generateName":{},"f:labels":{".":{},"f:app.kubernetes.io/name":{},"f:pod-template-hash":{}},"f:ownerReferences":{".":{},"k:{\"uid\":\"8a1b2c3d-0000-4000-8000-000000000001\"}":{}}},"f:spec":{"f:containers":{},"f:dnsPolicy":{},"f:enableServiceLinks":{},"f:restartPolicy":{},"f:schedulerName":{},"f:securityContext":{},"f:terminationGracePeriodSeconds":{}}}`)},
			}},
		},
		Spec: corev1.PodSpec{
			RestartPolicy:                 corev1.RestartPolicyAlways,
			TerminationGracePeriodSeconds: ptr(int64(30)),
			DNSPolicy:                     corev1.DNSClusterFirst,
			ServiceAccountName:            "default",
			SecurityContext:               &corev1.PodSecurityContext{},
			SchedulerName:                 "default-scheduler",
			Tolerations: []corev1.Toleration{
				{Key: "node.kubernetes.io/not-ready", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr(int64(300))},
				{Key: "node.kubernetes.io/unreachable", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr(int64(300))},
			},
			Priority:           ptr(int32(0)),
			EnableServiceLinks: ptr(true),
			PreemptionPolicy:   ptr(corev1.PreemptLowerPriority),
			Volumes: []corev1.Volume{{Name: "kube-api-access-x7k2p", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
				DefaultMode: ptr(int32(420)),
				Sources: []corev1.VolumeProjection{
					{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: ptr(int64(3607))}},
					{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"}, Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
				},
			}}}},
		},
	}
	for i := range n {
		c := container(fmt.Sprintf("c%d", i), image())
		if i == 0 && n > 3 {
			pod.Spec.InitContainers = append(pod.Spec.InitContainers, c)
			continue
		}
		pod.Spec.Containers = append(pod.Spec.Containers, c)
	}
	return pod
}

func container(name, image string) corev1.Container {
	return corev1.Container{
		Name:  name,
		Image: image,
		Args:  []string{"--port=8080", "--log-level=info"},
		Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}},
		Env: []corev1.EnvVar{
			{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.name"}}},
			{Name: "LOG_FORMAT", Value: "json"},
		},
		Resources: corev1.ResourceRequirements{
			Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")},
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
		},
		VolumeMounts: []corev1.VolumeMount{{Name: "kube-api-access-x7k2p", ReadOnly: true, MountPath: "/var/run/secrets/kubernetes.io/serviceaccount"}},
		ReadinessProbe: &corev1.Probe{
			ProbeHandler:   corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Port: intstr.FromString("http"), Scheme: corev1.URISchemeHTTP}},
			TimeoutSeconds: 1, PeriodSeconds: 10, SuccessThreshold: 1, FailureThreshold: 3,
		},
		TerminationMessagePath:   corev1.TerminationMessagePathDefault,
		TerminationMessagePolicy: corev1.TerminationMessageReadFile,
		ImagePullPolicy:          corev1.PullIfNotPresent,
	}
}

func ptr[T any](v T) *T { return &v }
