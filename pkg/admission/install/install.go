// Package install makes the Kubernetes objects that run kmirror's webhook
// in a cluster, or that register one running outside it.
//
// In a cluster: a Namespace, a ServiceAccount, a ConfigMap with the rules,
// a TLS Secret from a CA generated on the spot, a Service, a Deployment of
// two replicas spread across nodes, a PodDisruptionBudget and the
// MutatingWebhookConfiguration, in an order `kubectl apply` accepts.
// Outside a cluster: the MutatingWebhookConfiguration alone, pointing at a
// URL.
//
// The webhook configuration fails open (failurePolicy: Ignore): when kmirror
// cannot answer, Pods are admitted with their images unchanged rather than
// refused. It skips kube-system, the webhook's own namespace, and any
// namespace or object labelled [OptOutLabel]=[OptOutValue].
package install

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	"kmirror.dev/kmirror/pkg/certs"
)

// Names of what is installed.
const (
	// Name is the name of every namespaced object, and the app label.
	Name = "kmirror"
	// DefaultNamespace is where the webhook runs unless told otherwise.
	DefaultNamespace = "kmirror-system"
	// WebhookName names the webhook in its configuration.
	WebhookName = "mirror.kmirror.dev"
	// OptOutLabel, set to OptOutValue on a namespace or an object, keeps
	// the webhook away from it.
	OptOutLabel = "kmirror.dev/mirror"
	OptOutValue = "disabled"
	// TimeoutSeconds is how long the API server waits for an answer before
	// it admits the object unchanged.
	TimeoutSeconds = 3
	// ReviewBudget is the --review-budget of kmirror serve: a second
	// inside TimeoutSeconds, for the network and the API server's own
	// work. CheckTimeout is its --check-timeout, within the budget.
	ReviewBudget = (TimeoutSeconds - 1) * time.Second
	CheckTimeout = time.Second
	// The swap policies of kmirror serve.
	SwapAlways = "always"
	SwapExists = "exists"
	// CertValidity is how long the generated CA and certificate are valid.
	CertValidity = 10 * 365 * 24 * time.Hour
)

// Options say what to install.
type Options struct {
	// Namespace is where the webhook runs, and the namespace it skips.
	Namespace string
	// Image is the kmirror image the Deployment runs.
	Image string
	// Rules is the rules file, shipped in a ConfigMap.
	Rules []byte
	// Certs is the webhook's certificate; generated when nil.
	Certs *certs.Bundle
	// SwapPolicy is the --swap-policy of kmirror serve: SwapAlways ("" is
	// the same) or SwapExists.
	SwapPolicy string
	// CopyMissing, with SwapExists, copies the images the mirror lacks
	// into it: the webhook then has side effects, except on dry runs.
	CopyMissing bool
	// RegistrySecret, with SwapExists, names a Secret of type
	// kubernetes.io/dockerconfigjson in Namespace, with the credentials of
	// the mirror and, for CopyMissing, of the sources; it is mounted as
	// the Docker config of kmirror serve.
	RegistrySecret string
	// ServiceAccountAnnotations annotate the ServiceAccount, such as
	// eks.amazonaws.com/role-arn, which IRSA reads.
	ServiceAccountAnnotations map[string]string
	// ECRArgs, with SwapExists, are kmirror serve's flags for Amazon ECR
	// (--ecr, --ecr-region, --create-repositories=false).
	ECRArgs []string
	// ECRSettings, with CopyMissing, is a file of the settings of the ECR
	// repositories kmirror serve creates, shipped in the rules ConfigMap.
	ECRSettings []byte

	// WebhookURL, when set, installs only a webhook configuration that
	// calls kmirror at this URL, outside the cluster; CABundle is the CA
	// that signed its certificate.
	WebhookURL string
	CABundle   []byte
}

// Validate checks that the options go together.
func (o *Options) Validate() error {
	if err := o.validateAWS(); err != nil {
		return err
	}
	switch {
	case o.SwapPolicy != "" && o.SwapPolicy != SwapAlways && o.SwapPolicy != SwapExists:
		return fmt.Errorf("swap policy %q: want %s or %s", o.SwapPolicy, SwapAlways, SwapExists)
	case o.SwapPolicy != SwapExists && o.CopyMissing:
		return errors.New("copying missing images needs the swap policy exists")
	case o.SwapPolicy != SwapExists && o.RegistrySecret != "":
		return errors.New("a registry Secret needs the swap policy exists: only then does the webhook reach registries")
	case o.RegistrySecret != "":
		if errs := validation.IsDNS1123Subdomain(o.RegistrySecret); len(errs) > 0 {
			return fmt.Errorf("registry Secret %q: %s", o.RegistrySecret, strings.Join(errs, "; "))
		}
	}
	if o.WebhookURL != "" {
		u, err := url.Parse(o.WebhookURL)
		if err != nil {
			return fmt.Errorf("webhook URL: %w", err)
		}
		if u.Scheme != "https" || u.Host == "" {
			return fmt.Errorf("webhook URL %q: the API server calls webhooks over https only", o.WebhookURL)
		}
		if len(o.CABundle) == 0 {
			return errors.New("a webhook outside the cluster needs the CA that signed its certificate")
		}
		return nil
	}
	if o.Namespace == "" || o.Image == "" {
		return errors.New("the in-cluster install needs a namespace and an image")
	}
	if len(o.Rules) == 0 {
		return errors.New("the in-cluster install needs rules")
	}
	return nil
}

// Objects returns the objects to apply, in order.
func Objects(o Options) ([]any, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if o.WebhookURL != "" {
		return []any{webhookConfiguration(o, clientConfigURL(o.WebhookURL, o.CABundle))}, nil
	}
	if o.Certs == nil {
		b, err := certs.Generate(ServiceHosts(o.Namespace), time.Now(), CertValidity)
		if err != nil {
			return nil, err
		}
		o.Certs = b
	}
	return []any{
		namespace(o),
		serviceAccount(o),
		rulesConfigMap(o),
		tlsSecret(o),
		service(o),
		deployment(o),
		podDisruptionBudget(o),
		webhookConfiguration(o, clientConfigService(o)),
	}, nil
}

// ServiceHosts are the names the webhook's Service answers to, which its
// certificate must carry.
func ServiceHosts(namespace string) []string {
	svc := Name + "." + namespace
	return []string{svc + ".svc", svc + ".svc.cluster.local", svc}
}

// checksum changes when the certificate does, so that applying a new one
// rolls the Deployment onto it. The rules are not in it: kmirror serve
// rereads them when the kubelet updates the ConfigMap's files.
func checksum(o Options) string {
	h := sha256.New()
	for _, b := range [][]byte{o.Certs.Cert, o.Certs.Key} {
		h.Write(b)
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}
