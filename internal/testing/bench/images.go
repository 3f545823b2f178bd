package bench

import (
	"strconv"
	"strings"
)

// source is a place images come from, and whether kmirror's default rules
// (the nwcd-ecr-cn preset) rewrite an image written under it.
type source struct {
	prefix string
	// names are the repositories written after prefix.
	names     []string
	rewritten bool
	weight    int
}

var (
	hubNames = []string{"nginx", "busybox", "redis", "postgres", "alpine", "memcached", "traefik", "envoyproxy/envoy", "grafana/grafana"}
	k8sNames = []string{"pause", "coredns", "kube-proxy", "metrics-server/metrics-server", "ingress-nginx/controller", "etcd", "kube-state-metrics/kube-state-metrics"}
	appNames = []string{"app", "api", "worker", "node-exporter", "prometheus", "alertmanager", "fluent-bit", "cert-manager-controller", "argocd", "vault"}
)

// sources covers every way the default rules decide an image: Docker Hub
// however written, the Google, Kubernetes, Quay and EKS registries, a
// registry no rule names, host:port registries that are not Docker Hub, and
// images already on the mirror.
var sources = []source{
	{"", hubNames, true, 8},
	{"library/", hubNames[:5], true, 1},
	{"bitnami/", []string{"redis", "postgresql", "kafka", "mongodb"}, true, 2},
	{"docker.io/", hubNames, true, 2},
	{"docker.io/library/", hubNames[:5], true, 1},
	{"index.docker.io/", hubNames, true, 1},
	{"registry-1.docker.io/", hubNames, true, 1},
	{"k8s.gcr.io/", k8sNames, true, 2},
	{"registry.k8s.io/", k8sNames, true, 3},
	{"gcr.io/google-containers/", k8sNames, true, 1},
	{"gcr.io/distroless/", []string{"static", "base", "java17"}, true, 1},
	{"eu.gcr.io/acme-prod/", appNames, true, 1},
	{"quay.io/", []string{"prometheus/prometheus", "jetstack/cert-manager-controller", "coreos/etcd", "argoproj/argocd"}, true, 2},
	{"602401143452.dkr.ecr.us-west-2.amazonaws.com/", []string{"eks/coredns", "amazon-k8s-cni", "eks/kube-proxy"}, true, 1},
	{"ghcr.io/acme/", appNames, false, 2},
	{"mcr.microsoft.com/", []string{"oss/nginx/nginx", "dotnet/aspnet"}, false, 1},
	{"public.ecr.aws/", []string{"docker/library/nginx", "karpenter/controller"}, false, 1},
	{"localhost:5000/", appNames, false, 1},
	{"myregistry:5000/team/", appNames, false, 1},
	{"048912060910.dkr.ecr.cn-northwest-1.amazonaws.com.cn/gcr/google_containers/", k8sNames, false, 1},
	{"048912060910.dkr.ecr.cn-northwest-1.amazonaws.com.cn/dockerhub/", hubNames, false, 1},
}

var sourceWeight = func() int {
	n := 0
	for _, s := range sources {
		n += s.weight
	}
	return n
}()

// escapePrefix is the default rules' escape: an image written under it
// loses it, which is a rewrite too.
const escapePrefix = "direct.to/"

// imageRef returns a random image reference and whether the default rules
// rewrite it.
func (g *generator) imageRef() (string, bool) {
	pick := g.rng.IntN(sourceWeight)
	var src source
	for _, s := range sources {
		if pick -= s.weight; pick < 0 {
			src = s
			break
		}
	}
	ref := src.prefix + src.names[g.rng.IntN(len(src.names))] + g.tag()
	if g.chance(15) {
		return escapePrefix + ref, true
	}
	return ref, src.rewritten
}

// tag returns a tag, a digest, both, or nothing.
func (g *generator) tag() string {
	switch g.rng.IntN(10) {
	case 0:
		return ""
	case 1:
		return ":latest"
	case 2:
		return "@" + g.digest()
	case 3:
		return ":v" + g.version() + "@" + g.digest()
	case 4, 5:
		return ":v" + g.version()
	default:
		return ":" + g.version()
	}
}

func (g *generator) version() string {
	return strconv.Itoa(g.rng.IntN(4)) + "." + strconv.Itoa(g.rng.IntN(30)) + "." + strconv.Itoa(g.rng.IntN(12))
}

func (g *generator) digest() string {
	const hex = "0123456789abcdef"
	var b strings.Builder
	b.WriteString("sha256:")
	for range 64 {
		b.WriteByte(hex[g.rng.IntN(16)])
	}
	return b.String()
}

// quoted writes s plain, single-quoted or double-quoted, as people do.
func (g *generator) quoted(s string) string {
	switch g.rng.IntN(5) {
	case 0:
		return "'" + s + "'"
	case 1:
		return `"` + s + `"`
	}
	return s
}

// image returns the value of a walked image field, quoted in some style and
// sometimes followed by a comment, and counts it in the stream's stats.
func (g *generator) image() string {
	ref, rewritten := g.imageRef()
	g.stats.Images++
	if rewritten {
		g.stats.Rewrites++
	}
	v := g.quoted(ref)
	if g.chance(6) {
		v += "  # " + comments[g.rng.IntN(len(comments))]
	}
	return v
}

var comments = []string{
	"pinned by the release process",
	"TODO: move to the internal registry",
	"keep in sync with values.yaml",
	"image: do-not-parse-this:1.0",
	"renovate: datasource=docker",
}
