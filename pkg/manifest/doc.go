// Package manifest finds the image fields of Kubernetes objects and
// rewrites them with the mirror engine.
//
// [Images] is the walk: given one object it returns every container, init
// container and ephemeral container image, and every image volume reference,
// of every pod spec the object embeds. Known kinds and custom resources are
// treated alike: a pod spec is any mapping whose "containers" is a list of
// mappings, found anywhere in the object except under "metadata". Items of a
// List are walked as objects. CustomResourceDefinitions, ConfigMaps and
// Secrets are never walked, because they only mention images.
//
// [Rewrite] applies the engine to a YAML or JSON stream and edits the
// stream's bytes in place, so everything but the changed image values stays
// byte for byte as it was. It parses one document at a time, which keeps
// memory flat on long streams. [Rewriter] does the same on parsed nodes, as
// a kio.Filter, for the KRM function.
package manifest
