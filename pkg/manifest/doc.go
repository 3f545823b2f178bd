// Package manifest finds the image fields of Kubernetes objects and
// rewrites them with the mirror engine.
//
// [Walk.Images] is the walk: given one object it returns its image fields.
//
//   - Pod specs, whatever the kind, anywhere in the object but under
//     "metadata": the image of every entry of "containers",
//     "initContainers" and "ephemeralContainers" where that is a list of
//     mappings (a schema that describes containers is not), and every
//     "volumes[].image.reference". A mapping may hold some of these lists
//     only, as a kustomize patch does, and pod specs inside pod specs are
//     walked too.
//   - The built-in fields of custom resources whose images are outside pod
//     specs ([BuiltinFields]): Tekton steps and bundles, Argo Workflows
//     templates, KubeVirt container disks, CDI registry URLs ("docker://"
//     stays, see [Field.Prefix]), KServe model frameworks, and others.
//   - The fields a MirrorRules file declares (mirror.Rules.ImageFields),
//     in the grammar of package fieldpath; [WalkOf] compiles them.
//   - The images containers pass to the programs they run: variables
//     RELATED_IMAGE_*, and the variables and flags of
//     mirror.Rules.ImageValues (values.go).
//   - Fields found by name: in a Kubernetes object, a key "image" or
//     "imageName" whose string parses as a reference, and an image
//     volume's shape, with rules that keep look-alikes out (infer.go);
//     [WithoutInference] and the rules' exclusions turn it off.
//
// One precedence: built-in and declared fields are always read; fields
// are found by name unless an exclusion names the object's group or kind,
// or every kind. [Field.Found] says which way a field was found.
//
// An image whose tag or digest is a placeholder ("golang:$(params.v)") is
// decided on the name before it, and the placeholder stays
// (template.go); a Tekton step whose image is a whole parameter reads the
// one value its object gives the parameter (params.go).
//
// Items of a List, and objects embedded in an object (a TriggerTemplate's
// resource templates), are walked as objects. CustomResourceDefinitions,
// ConfigMaps and Secrets are never walked, because they only mention
// images, but for the fields the rules declare in those very kinds. An
// image whose pull policy, beside it, is Never must stay as written
// ([Field.Keep]); [Field.Decide] makes that decision for every mode.
// [Suspects] finds, for an inventory, the strings that look like images
// where the walk does not read.
//
// Every key and scalar on the way to an image, and every image, is read as
// kubectl reads it (read.go): k8s.io/apimachinery's YAMLOrJSONDecoder
// reads YAML 1.1 through go-yaml v2 and sigs.k8s.io/yaml, so "yes" is a
// boolean, a date a string, a key given as an alias or as !!binary the
// key it stands for, and merge keys are expanded in v2's order. What
// kubectl's decoder refuses (a null key, a value its tag refuses, a merge
// of something other than mappings) is refused. FuzzReadsAsKubectl holds
// the reading to that decoder.
//
// [Rewrite] applies the engine to a YAML or JSON stream and edits the
// stream's bytes in place, so everything but the changed image values stays
// byte for byte as it was. It parses one document at a time, which keeps
// memory flat on long streams: JSON values one after the other count as
// documents, and a long List is read by runs of its items. [Rewriter] does the same on parsed nodes, as
// a kio.Filter, for the KRM function.
package manifest
