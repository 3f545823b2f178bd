package install

import (
	"strconv"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"kmirror.dev/kmirror/pkg/admission"
)

// Where the Deployment mounts its files, and its ports.
const (
	tlsDir      = "/etc/kmirror/tls"
	rulesDir    = "/etc/kmirror/rules"
	rulesFile   = "rules.yaml"
	registryDir = "/etc/kmirror/registry"
	// registryFile is where the Secret's .dockerconfigjson is mounted.
	registryFile = "config.json"
	httpsPort    = 8443
	metricPort   = 9090
	// uid is distroless's "nonroot".
	uid = 65532
)

func appLabels() map[string]string {
	return map[string]string{"app.kubernetes.io/name": Name}
}

func meta(o Options, kind, apiVersion string) (metav1.TypeMeta, metav1.ObjectMeta) {
	return metav1.TypeMeta{Kind: kind, APIVersion: apiVersion},
		metav1.ObjectMeta{Name: Name, Namespace: o.Namespace, Labels: appLabels()}
}

func namespace(o Options) *corev1.Namespace {
	tm, om := meta(o, "Namespace", "v1")
	om.Name, om.Namespace = o.Namespace, ""
	om.Labels[OptOutLabel] = OptOutValue
	return &corev1.Namespace{TypeMeta: tm, ObjectMeta: om}
}

func serviceAccount(o Options) *corev1.ServiceAccount {
	tm, om := meta(o, "ServiceAccount", "v1")
	om.Annotations = o.ServiceAccountAnnotations
	// The webhook never calls the API server.
	return &corev1.ServiceAccount{TypeMeta: tm, ObjectMeta: om, AutomountServiceAccountToken: ptr(false)}
}

func rulesConfigMap(o Options) *corev1.ConfigMap {
	tm, om := meta(o, "ConfigMap", "v1")
	om.Name = Name + "-rules"
	data := map[string]string{rulesFile: string(o.Rules)}
	if len(o.ECRSettings) > 0 {
		data[ecrSettingsFile] = string(o.ECRSettings)
	}
	return &corev1.ConfigMap{TypeMeta: tm, ObjectMeta: om, Data: data}
}

func tlsSecret(o Options) *corev1.Secret {
	tm, om := meta(o, "Secret", "v1")
	om.Name = Name + "-tls"
	return &corev1.Secret{TypeMeta: tm, ObjectMeta: om, Type: corev1.SecretTypeTLS, Data: map[string][]byte{
		corev1.TLSCertKey:       o.Certs.Cert,
		corev1.TLSPrivateKeyKey: o.Certs.Key,
		"ca.crt":                o.Certs.CA,
	}}
}

func service(o Options) *corev1.Service {
	tm, om := meta(o, "Service", "v1")
	return &corev1.Service{TypeMeta: tm, ObjectMeta: om, Spec: corev1.ServiceSpec{
		Selector: appLabels(),
		Ports: []corev1.ServicePort{
			{Name: "https", Port: 443, TargetPort: intstr.FromString("https")},
			{Name: "metrics", Port: metricPort, TargetPort: intstr.FromString("metrics")},
		},
	}}
}

func deployment(o Options) *appsv1.Deployment {
	tm, om := meta(o, "Deployment", "apps/v1")
	podLabels := appLabels()
	// The webhook's own Pods are never sent to it, whatever the namespace.
	podLabels[OptOutLabel] = OptOutValue
	return &appsv1.Deployment{TypeMeta: tm, ObjectMeta: om, Spec: appsv1.DeploymentSpec{
		Replicas: ptr(int32(2)),
		Selector: &metav1.LabelSelector{MatchLabels: appLabels()},
		Strategy: appsv1.DeploymentStrategy{
			Type:          appsv1.RollingUpdateDeploymentStrategyType,
			RollingUpdate: &appsv1.RollingUpdateDeployment{MaxUnavailable: ptr(intstr.FromInt32(0)), MaxSurge: ptr(intstr.FromInt32(1))},
		},
		Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{
				Labels: podLabels,
				Annotations: map[string]string{
					"kmirror.dev/certificate-sha256": checksum(o),
					"prometheus.io/scrape":           "true",
					"prometheus.io/port":             "9090",
				},
			},
			Spec: podSpec(o),
		},
	}}
}

func podSpec(o Options) corev1.PodSpec {
	return corev1.PodSpec{
		ServiceAccountName:           Name,
		AutomountServiceAccountToken: ptr(false),
		// Longer than --shutdown-delay plus the drain.
		TerminationGracePeriodSeconds: ptr(int64(30)),
		SecurityContext: &corev1.PodSecurityContext{
			RunAsNonRoot:   ptr(true),
			RunAsUser:      ptr(int64(uid)),
			RunAsGroup:     ptr(int64(uid)),
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		TopologySpreadConstraints: []corev1.TopologySpreadConstraint{
			spread("kubernetes.io/hostname"),
			spread("topology.kubernetes.io/zone"),
		},
		Containers: []corev1.Container{container(o)},
		Volumes:    volumes(o),
	}
}

func volumes(o Options) []corev1.Volume {
	v := []corev1.Volume{
		{Name: "tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: Name + "-tls"}}},
		// Mounted whole, not with subPath, so that the kubelet updates the
		// file and kmirror serve rereads it.
		{Name: "rules", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: Name + "-rules"}}}},
	}
	if o.RegistrySecret != "" {
		v = append(v, corev1.Volume{Name: "registry", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: o.RegistrySecret,
			Items:      []corev1.KeyToPath{{Key: corev1.DockerConfigJsonKey, Path: registryFile}},
		}}})
	}
	return v
}

// serveArgs are the arguments of kmirror serve in the Deployment.
func serveArgs(o Options) []string {
	args := []string{
		"serve",
		"--addr=:8443",
		"--metrics-addr=:9090",
		"--tls-cert-file=" + tlsDir + "/" + corev1.TLSCertKey,
		"--tls-key-file=" + tlsDir + "/" + corev1.TLSPrivateKeyKey,
		"--rules=" + rulesDir + "/" + rulesFile,
		"--shutdown-delay=5s",
		"--review-budget=" + ReviewBudget.String(),
	}
	if o.SwapPolicy == SwapExists {
		args = append(args, "--swap-policy=exists", "--check-timeout="+CheckTimeout.String())
	}
	if o.CopyMissing {
		args = append(args, "--copy-missing")
	}
	if o.RegistrySecret != "" {
		args = append(args, "--registry-config="+registryDir+"/"+registryFile)
	}
	return append(args, ecrServeArgs(o)...)
}

func spread(key string) corev1.TopologySpreadConstraint {
	return corev1.TopologySpreadConstraint{
		MaxSkew:           1,
		TopologyKey:       key,
		WhenUnsatisfiable: corev1.ScheduleAnyway,
		LabelSelector:     &metav1.LabelSelector{MatchLabels: appLabels()},
	}
}

func container(o Options) corev1.Container {
	probe := func(path string, period int32) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
				Path: path, Port: intstr.FromString("https"), Scheme: corev1.URISchemeHTTPS,
			}},
			PeriodSeconds: period,
		}
	}
	return corev1.Container{
		Name:            Name,
		Image:           o.Image,
		ImagePullPolicy: corev1.PullIfNotPresent,
		Args:            serveArgs(o),
		// kmirror serve's own default, said where it can be changed
		// with the memory limit: the collector works harder as the heap
		// nears it.
		Env: []corev1.EnvVar{{Name: "GOMEMLIMIT", Value: strconv.Itoa(admission.MemoryLimit>>20) + "MiB"}},
		Ports: []corev1.ContainerPort{
			{Name: "https", ContainerPort: httpsPort},
			{Name: "metrics", ContainerPort: metricPort},
		},
		ReadinessProbe: probe("/readyz", 5),
		LivenessProbe:  probe("/healthz", 10),
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{
				corev1.ResourceCPU:    resource.MustParse("50m"),
				corev1.ResourceMemory: resource.MustParse("64Mi"),
			},
			// No CPU limit: throttling would show as admission latency.
			Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")},
		},
		SecurityContext: &corev1.SecurityContext{
			AllowPrivilegeEscalation: ptr(false),
			ReadOnlyRootFilesystem:   ptr(true),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		},
		VolumeMounts: mounts(o),
	}
}

func mounts(o Options) []corev1.VolumeMount {
	m := []corev1.VolumeMount{
		{Name: "tls", MountPath: tlsDir, ReadOnly: true},
		{Name: "rules", MountPath: rulesDir, ReadOnly: true},
	}
	if o.RegistrySecret != "" {
		m = append(m, corev1.VolumeMount{Name: "registry", MountPath: registryDir, ReadOnly: true})
	}
	return m
}

func podDisruptionBudget(o Options) *policyv1.PodDisruptionBudget {
	tm, om := meta(o, "PodDisruptionBudget", "policy/v1")
	return &policyv1.PodDisruptionBudget{TypeMeta: tm, ObjectMeta: om, Spec: policyv1.PodDisruptionBudgetSpec{
		MinAvailable: ptr(intstr.FromInt32(1)),
		Selector:     &metav1.LabelSelector{MatchLabels: appLabels()},
	}}
}

func clientConfigService(o Options) admissionregistrationv1.WebhookClientConfig {
	return admissionregistrationv1.WebhookClientConfig{
		Service: &admissionregistrationv1.ServiceReference{
			Namespace: o.Namespace, Name: Name, Path: ptr("/mutate"), Port: ptr(int32(443)),
		},
		CABundle: o.Certs.CA,
	}
}

func clientConfigURL(url string, ca []byte) admissionregistrationv1.WebhookClientConfig {
	return admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: ca}
}

func webhookConfiguration(o Options, client admissionregistrationv1.WebhookClientConfig) *admissionregistrationv1.MutatingWebhookConfiguration {
	tm, om := meta(o, "MutatingWebhookConfiguration", "admissionregistration.k8s.io/v1")
	om.Namespace = ""
	skipped := []string{"kube-system"}
	if o.WebhookURL == "" {
		skipped = append(skipped, o.Namespace)
	}
	optOut := metav1.LabelSelectorRequirement{Key: OptOutLabel, Operator: metav1.LabelSelectorOpNotIn, Values: []string{OptOutValue}}
	pods := func(resource string, ops ...admissionregistrationv1.OperationType) admissionregistrationv1.RuleWithOperations {
		return admissionregistrationv1.RuleWithOperations{Operations: ops, Rule: admissionregistrationv1.Rule{
			APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{resource}, Scope: ptr(admissionregistrationv1.NamespacedScope),
		}}
	}
	return &admissionregistrationv1.MutatingWebhookConfiguration{TypeMeta: tm, ObjectMeta: om, Webhooks: []admissionregistrationv1.MutatingWebhook{{
		Name:         WebhookName,
		ClientConfig: client,
		Rules: []admissionregistrationv1.RuleWithOperations{
			pods("pods", admissionregistrationv1.Create, admissionregistrationv1.Update),
			pods("pods/ephemeralcontainers", admissionregistrationv1.Update),
		},
		FailurePolicy: ptr(admissionregistrationv1.Ignore),
		MatchPolicy:   ptr(admissionregistrationv1.Equivalent),
		NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: corev1.LabelMetadataName, Operator: metav1.LabelSelectorOpNotIn, Values: skipped},
			optOut,
		}},
		ObjectSelector:          &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{optOut}},
		SideEffects:             ptr(sideEffects(o)),
		TimeoutSeconds:          ptr(int32(TimeoutSeconds)),
		AdmissionReviewVersions: []string{"v1", "v1beta1"},
		ReinvocationPolicy:      ptr(admissionregistrationv1.IfNeededReinvocationPolicy),
	}}}
}

// sideEffects declares what calling the webhook does: copying missing
// images into the mirror is a side effect, which dry runs do not have.
func sideEffects(o Options) admissionregistrationv1.SideEffectClass {
	if o.CopyMissing {
		return admissionregistrationv1.SideEffectClassNoneOnDryRun
	}
	return admissionregistrationv1.SideEffectClassNone
}

func ptr[T any](v T) *T { return &v }
