package ecr

import (
	"strings"

	"github.com/awslabs/amazon-ecr-credential-helper/ecr-login/api"
)

// Registry is an Amazon ECR private registry.
type Registry struct {
	// Host is the registry's host, as images name it.
	Host string
	// Account is the registry id, 12 digits; "" for a host named in
	// Options.Hosts: the caller's own registry.
	Account string
	// Region is the region of the registry; "" when it comes from the
	// AWS config.
	Region string
	// FIPS reports ECR's FIPS endpoint form (dkr.ecr-fips).
	FIPS bool
}

// ParseHost reports whether host is in ECR's private form:
// <account>.dkr.ecr[-fips].<region>.amazonaws.com, .amazonaws.com.cn in
// the China partition, and the forms of AWS's other partitions.
func ParseHost(host string) (Registry, bool) {
	if strings.ContainsAny(host, ":/") {
		return Registry{}, false
	}
	reg, err := api.ExtractRegistry(host)
	if err != nil || reg.Service != api.ServiceECR {
		return Registry{}, false
	}
	return Registry{Host: host, Account: reg.ID, Region: reg.Region, FIPS: reg.FIPS}, true
}

// Partition is the AWS partition of the registry's region, for ARNs:
// "aws", "aws-cn" in China, "aws-us-gov" in GovCloud.
func (r Registry) Partition() string {
	switch {
	case strings.HasSuffix(r.Host, ".amazonaws.com.cn") || strings.HasSuffix(r.Host, ".amazonwebservices.com.cn") || strings.HasPrefix(r.Region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(r.Region, "us-gov-"):
		return "aws-us-gov"
	case strings.HasSuffix(r.Host, ".c2s.ic.gov"):
		return "aws-iso"
	case strings.HasSuffix(r.Host, ".sc2s.sgov.gov"):
		return "aws-iso-b"
	case strings.HasSuffix(r.Host, ".amazonaws.eu"):
		return "aws-eusc"
	}
	return "aws"
}
