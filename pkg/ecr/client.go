package ecr

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/google/go-containerregistry/pkg/name"
	"golang.org/x/sync/singleflight"
)

// Options configure a Client.
type Options struct {
	// Hosts are registry hosts (host[:port]) to handle as ECR besides
	// those in ECR's private form: a VPC endpoint's name, a test.
	Hosts []string
	// Region is the region of Hosts; "" takes the AWS config's.
	Region string
	// CreateRepositories makes CreateRepository create the repositories
	// that do not exist; without it, CreateRepository does nothing.
	CreateRepositories bool
	// Settings are the settings of the repositories created; nil leaves
	// ECR's defaults.
	Settings *Settings
	// HTTPClient sends the requests to ECR's API; nil is the SDK's, which
	// trusts the system's certificate pool (and SSL_CERT_FILE).
	HTTPClient *http.Client
}

// Client reaches ECR's API for the registries it handles: their tokens,
// and their repositories. It is safe for concurrent use. The AWS config is
// loaded at the first call about an ECR registry, so a run that reaches
// none never looks for AWS credentials.
type Client struct {
	o      Options
	hosts  map[string]bool
	config func() (aws.Config, error)

	mu     sync.Mutex
	apis   map[apiKey]*ecr.Client
	tokens map[Registry]*token

	// created are the repositories made to exist, by full name.
	created sync.Map
	creates singleflight.Group
}

type apiKey struct {
	region string
	fips   bool
}

// New returns a Client. Every name in o.Hosts must be a registry host.
func New(o Options) (*Client, error) {
	c := &Client{o: o, hosts: map[string]bool{}, apis: map[apiKey]*ecr.Client{}, tokens: map[Registry]*token{}}
	for _, h := range o.Hosts {
		reg, err := name.NewRegistry(h)
		if err != nil || strings.Contains(h, "/") {
			return nil, fmt.Errorf("--ecr %q is not a registry host[:port]", h)
		}
		c.hosts[reg.RegistryStr()] = true
	}
	c.config = sync.OnceValues(func() (aws.Config, error) {
		var opts []func(*config.LoadOptions) error
		if o.HTTPClient != nil {
			opts = append(opts, config.WithHTTPClient(o.HTTPClient))
		}
		cfg, err := config.LoadDefaultConfig(context.Background(), opts...)
		if err != nil {
			return cfg, fmt.Errorf("loading the AWS configuration: %w", err)
		}
		return cfg, nil
	})
	return c, nil
}

// Lookup reports whether host is an ECR registry this Client handles: one
// in ECR's private form, or one of Options.Hosts.
func (c *Client) Lookup(host string) (Registry, bool) {
	if c.hosts[host] {
		return Registry{Host: host, Region: c.o.Region}, true
	}
	return ParseHost(host)
}

// api returns the ECR client of reg's region, and reg with its region
// filled in from the AWS config when it had none.
func (c *Client) api(reg Registry) (*ecr.Client, Registry, error) {
	cfg, err := c.config()
	if err != nil {
		return nil, reg, err
	}
	if reg.Region == "" {
		reg.Region = cfg.Region
	}
	if reg.Region == "" {
		return nil, reg, fmt.Errorf("no region for the Amazon ECR registry %s: give --ecr-region, or set AWS_REGION or a profile's region", reg.Host)
	}
	key := apiKey{reg.Region, reg.FIPS}
	c.mu.Lock()
	defer c.mu.Unlock()
	if api, ok := c.apis[key]; ok {
		return api, reg, nil
	}
	api := ecr.NewFromConfig(cfg, func(o *ecr.Options) {
		o.Region = reg.Region
		if reg.FIPS {
			o.EndpointOptions.UseFIPSEndpoint = aws.FIPSEndpointStateEnabled
		}
	})
	c.apis[key] = api
	return api, reg, nil
}
