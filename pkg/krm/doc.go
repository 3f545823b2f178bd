// Package krm runs kmirror as a KRM function, by the Configuration
// Functions Specification that kustomize and kpt follow.
//
// The input is one ResourceList document, of apiVersion
// config.kubernetes.io/v1 or the older kpt form config.kubernetes.io/v1alpha1:
//
//	apiVersion: config.kubernetes.io/v1
//	kind: ResourceList
//	functionConfig:            # optional: the rules
//	  apiVersion: kmirror.dev/v1alpha1
//	  kind: MirrorRules        # a rules file, or a ConfigMap whose data.rules holds one
//	  ...
//	items:                     # the objects to rewrite
//	- apiVersion: apps/v1
//	  kind: Deployment
//	  ...
//
// The output is the same ResourceList, in the same apiVersion, with the
// image fields of its items rewritten by [manifest.Rewriter], so the
// function decides every image as the CLI and the webhook do. Nothing else
// changes: no annotation is added or removed, and comments stay. A
// ConfigMap functionConfig without data, or a MirrorRules one without spec,
// is a declaration only, and the default rules apply, as they do without a
// functionConfig.
//
// Problems are reported in the ResourceList's results, each with a
// severity, a message, the resource and the field it is about: an image
// that is not a valid reference is a warning and stays as written; a
// functionConfig that is not valid rules is an error, the items are
// returned unchanged, and [Function.Run] returns a *[ConfigError] so that
// the caller exits non-zero, as the specification asks.
//
// The results are kyaml's framework.Result values, but the reading and
// writing are the package's own rather than kyaml's framework.Execute, so
// that the ResourceList goes back as the very node tree that came in: a
// JSON input is answered in JSON, as the specification recommends, and
// results that an earlier step left are kept, with the new ones after them.
package krm
