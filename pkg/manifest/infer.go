package manifest

import (
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"kmirror.dev/kmirror/pkg/image"
	"kmirror.dev/kmirror/pkg/mirror"
)

// Finding fields by name. Besides the fields of pod specs, the built-in
// fields and the declared ones, the walk takes for an image field, in a
// Kubernetes object (a document with an apiVersion and a kind):
//
//   - a key "image" or "imageName" whose value is a string that parses as
//     an image reference;
//   - a key "image" whose value is a mapping with a "reference", the shape
//     of an image volume.
//
// Precision matters as much as recall: rewriting a value that is not an
// image corrupts the manifest. So:
//
//   - The places that are never walked stay so: metadata, ConfigMaps,
//     Secrets and CRDs (see skipKinds); and for names only, an object's
//     status (what the cluster reports), labels and annotations wherever
//     they are, "output" and "outputs", where builds push, and Helm values
//     ("values", "valuesObject", "valuesInline").
//   - Kinds whose "image" is not one the cluster pulls are excluded
//     ([ExclusionSets]): policies, whose values are patterns; Helm values,
//     which a chart may compose into other names; machines and clouds,
//     whose images are VM or OS images or pulled by a cloud service.
//   - An "image" beside a "repository", "registry", "hub", "tag" or
//     "digest" is one part of a name that its operator composes.
//   - Outside a container's shape (an entry of a list that has a "name",
//     or a mapping with an "imagePullPolicy") and an image volume's, the
//     value must name a tag, a digest or a registry host: "nginx:1.25",
//     "quay.io/x/y". A bare name ("ubuntu-22.04", "debian-cloud/debian-11",
//     "rhcos") is how VM and OS images are named, and is left alone.
//
// A value that does not count is not reported: it is not an image field.

// notByName are keys below which no field is found by name: labels and
// annotations, which describe; where builds push; and Helm values, in any
// kind (KubeVela's helm components, kustomize's inflated charts), which a
// chart may compose into other names.
var notByName = map[string]bool{
	"labels": true, "annotations": true,
	"output": true, "outputs": true,
	"values": true, "valuesObject": true, "valuesInline": true,
}

// composedWith are the keys beside an "image" that make it one part of a
// name that an operator composes: {repository: nvcr.io/nvidia, image:
// driver, version: "550"}.
var composedWith = [...]string{"repository", "registry", "hub", "tag", "digest"}

// byName adds the fields found by name in the mapping of pairs ps, at
// path; entry says that it is an entry of a list.
func (w *walker) byName(ps []pair, path Path, obj Object, on way, entry bool) {
	for _, p := range ps {
		key := p.key.Value
		if key != "image" && key != "imageName" {
			continue
		}
		v, von := w.at(p.value, through(p, on))
		switch v.Kind {
		case yaml.MappingNode:
			if key != "image" {
				continue
			}
			vps := w.pairs(v)
			if ref := value(vps, "reference"); ref != nil && inferable(deref(ref), true) {
				w.image(vps, "reference", "pullPolicy", path.with(key), Field{Object: obj, Found: FoundByName}, von)
			}
		case yaml.ScalarNode:
			if composed(ps) {
				continue
			}
			container := entry && value(ps, "name") != nil || value(ps, "imagePullPolicy") != nil
			if !inferable(v, container) {
				continue
			}
			f := Field{Object: obj, Found: FoundByName}
			if entry {
				f.List, f.Name = lastKey(path), scalar(value(ps, "name"))
			}
			w.image(ps, key, "imagePullPolicy", path, f, on)
		}
	}
}

// composed reports whether an image among the pairs ps is one part of a
// name.
func composed(ps []pair) bool {
	for _, k := range composedWith {
		if value(ps, k) != nil {
			return true
		}
	}
	return false
}

// inferable reports whether the scalar n, found by name, is an image: a
// string that parses as a reference, whose tag or digest may be a
// placeholder; and, unless it is in a container's shape, that names a
// tag, a digest or a registry host.
func inferable(n *yaml.Node, container bool) bool {
	if n.Kind != yaml.ScalarNode || notString(n) != nil {
		return false
	}
	text := scalar(n)
	if text == "" || !container && !mayNameTagOrHost(text) {
		return false // the fast way out, before the reference grammar's regular expressions
	}
	name, _, templated := splitPlaceholder(text)
	if !templated {
		name = text
	}
	ref, err := image.Parse(name)
	if err != nil {
		return false
	}
	return container || templated || ref.Host != "" || ref.Suffix != ""
}

// mayNameTagOrHost reports whether v may name a tag, a digest or a
// registry host: it has a ":" or an "@", or a first component that is a
// host by the reference grammar's rule.
func mayNameTagOrHost(v string) bool {
	if strings.ContainsAny(v, ":@") {
		return true
	}
	first, _, ok := strings.Cut(v, "/")
	return ok && (strings.Contains(first, ".") || first == "localhost" || strings.ToLower(first) != first)
}

// infers reports whether fields are found by name in the objects of
// apiVersion and kind.
func (wk *Walk) infers(apiVersion, kind string) bool {
	if !wk.infer {
		return false
	}
	group := groupOf(apiVersion)
	for _, e := range wk.noInfer {
		if excludes(e, group, kind) {
			return false
		}
	}
	return true
}

// excludes reports whether the exclusion e names group and kind.
func excludes(e mirror.ImageField, group, kind string) bool {
	if e.Kind != "" && e.Kind != kind {
		return false
	}
	if domain, ok := strings.CutPrefix(e.Group, "*"); ok {
		return strings.HasSuffix(group, domain)
	}
	return e.Group == "" || e.Group == group
}

// ExclusionSet is a set of kinds in which no field is found by name, and
// why.
type ExclusionSet struct {
	Why string
	// Kinds are exclude entries, as spec.imageFields writes them.
	Kinds []mirror.ImageField
}

// exclusionSets are the built-in exclusions.
var exclusionSets = []ExclusionSet{
	{"policies: an image there is a pattern to match", groups(
		"kyverno.io", "*.kyverno.io", "*.gatekeeper.sh", "admissionregistration.k8s.io", "*.kubewarden.io", "wgpolicyk8s.io")},
	{"releases of Helm charts: values that a chart may compose into other names", append(groups(
		"helm.toolkit.fluxcd.io", "helm.fluxcd.io", "helm.cattle.io", "fleet.cattle.io", "kustomize.config.k8s.io"),
		mirror.ImageField{Group: "argoproj.io", Kind: "Application", Exclude: true},
		mirror.ImageField{Group: "argoproj.io", Kind: "ApplicationSet", Exclude: true})},
	{"machines and clouds: VM and OS images, and images a cloud pulls", groups(
		"cluster.x-k8s.io", "*.cluster.x-k8s.io", "machine.openshift.io", "metal3.io", "tinkerbell.org", "harvesterhci.io",
		"rke-machine-config.cattle.io", "*.crossplane.io", "*.upbound.io", "*.cnrm.cloud.google.com", "*.services.k8s.aws",
		"*.azure.com", "karpenter.sh", "*.karpenter.sh", "karpenter.k8s.aws", "*.gardener.cloud")},
	{"tools outside the cluster: images they scan, push or run themselves", groups(
		"image.toolkit.fluxcd.io", "argocd-image-updater.argoproj.io", "skaffold", "kind.x-k8s.io", "k3d.io")},
}

func groups(names ...string) []mirror.ImageField {
	out := make([]mirror.ImageField, len(names))
	for i, g := range names {
		out[i] = mirror.ImageField{Group: g, Exclude: true}
	}
	return out
}

// ExclusionSets returns the built-in exclusions: the kinds in which no
// field is found by name, besides those the rules exclude.
func ExclusionSets() []ExclusionSet {
	out := make([]ExclusionSet, len(exclusionSets))
	for i, s := range exclusionSets {
		out[i] = ExclusionSet{Why: s.Why, Kinds: append([]mirror.ImageField(nil), s.Kinds...)}
	}
	return out
}

func builtinExclusions() []mirror.ImageField {
	var out []mirror.ImageField
	for _, s := range exclusionSets {
		out = append(out, s.Kinds...)
	}
	return out
}

// WithoutInference returns an engine for the rules of eng with one more
// exclusion, of every kind: no field is found by name. It is what
// --no-infer does, and what "- exclude: true" under spec.imageFields does
// in a rules file.
func WithoutInference(eng *mirror.Engine) (*mirror.Engine, error) {
	r := eng.Rules()
	r.ImageFields = append(r.ImageFields, mirror.ImageField{Exclude: true})
	return mirror.New(r)
}
