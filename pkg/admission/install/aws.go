package install

import (
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ecrSettingsFile is the key of the rules ConfigMap that holds the ECR
// repository settings, and the file kmirror serve reads them from.
const ecrSettingsFile = "ecr-repository-settings.yaml"

// validateAWS checks the options of a mirror on Amazon ECR.
func (o *Options) validateAWS() error {
	switch {
	case len(o.ECRArgs) > 0 && o.SwapPolicy != SwapExists:
		return fmt.Errorf("%s needs the swap policy exists: only then does the webhook reach registries", strings.Join(o.ECRArgs, " "))
	case len(o.ECRSettings) > 0 && !o.CopyMissing:
		return errors.New("ECR repository settings need copying missing images: only then does the webhook create repositories")
	case len(o.ServiceAccountAnnotations) > 0 && o.WebhookURL != "":
		return errors.New("ServiceAccount annotations are for the in-cluster install")
	}
	if errs := validation.ValidateAnnotations(o.ServiceAccountAnnotations, field.NewPath("metadata", "annotations")); len(errs) > 0 {
		return fmt.Errorf("ServiceAccount annotations: %w", errs.ToAggregate())
	}
	return nil
}

// ecrServeArgs are kmirror serve's arguments for Amazon ECR.
func ecrServeArgs(o Options) []string {
	args := append([]string(nil), o.ECRArgs...)
	if len(o.ECRSettings) > 0 {
		args = append(args, "--ecr-repository-settings="+rulesDir+"/"+ecrSettingsFile)
	}
	return args
}
