package krm

import (
	"regexp"
	"strconv"

	"sigs.k8s.io/kustomize/kyaml/fn/framework"
	"sigs.k8s.io/kustomize/kyaml/kio/kioutil"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"kmirror.dev/kmirror/pkg/manifest"
)

// warningResults turns the warnings of a run over items (whose document
// numbers count the items from 1) into results that name the resource,
// the field and the image as written.
func warningResults(items []*yaml.RNode, decided []manifest.Image, warnings []manifest.Warning) framework.Results {
	images := map[manifest.Location]string{}
	for _, img := range decided {
		images[img.Location] = img.Decision.Image
	}
	var results framework.Results
	for _, w := range warnings {
		item := items[w.Document-1]
		r := &framework.Result{
			Message:  w.Message,
			Severity: framework.Warning,
			ResourceRef: &yaml.ResourceIdentifier{
				TypeMeta: yaml.TypeMeta{APIVersion: apiVersion(item.YNode(), w.Path), Kind: w.Object.Kind},
				NameMeta: yaml.NameMeta{Name: w.Object.Name, Namespace: w.Object.Namespace},
			},
			Field: &framework.Field{Path: w.Path},
			File:  file(item),
		}
		if img, ok := images[w.Location]; ok {
			r.Field.CurrentValue = img
		}
		results = append(results, r)
	}
	return results
}

// configResult is the error result for a functionConfig that gave err.
func configResult(fc *yaml.Node, err error) *framework.Result {
	r := &framework.Result{Message: err.Error(), Severity: framework.Error}
	if !isNull(fc) {
		meta := lookup(fc, "metadata")
		r.ResourceRef = &yaml.ResourceIdentifier{
			TypeMeta: yaml.TypeMeta{APIVersion: scalar(lookup(fc, "apiVersion")), Kind: scalar(lookup(fc, "kind"))},
			NameMeta: yaml.NameMeta{Name: scalar(lookup(meta, "name")), Namespace: scalar(lookup(meta, "namespace"))},
		}
		r.File = file(yaml.NewRNode(fc))
	}
	return r
}

// listItem matches the start of the path of a field in an item of a List,
// as the walk writes it: "items[3].spec...".
var listItem = regexp.MustCompile(`^items\[(\d+)\]\.?`)

// apiVersion returns the apiVersion of the object that holds the field at
// path in item: item itself, or the entry of a List's items it lies in.
func apiVersion(item *yaml.Node, path string) string {
	for {
		m := listItem.FindStringSubmatch(path)
		list := lookup(item, "items")
		if m == nil || list == nil || list.Kind != yaml.SequenceNode {
			return scalar(lookup(item, "apiVersion"))
		}
		i, _ := strconv.Atoi(m[1])
		if i >= len(list.Content) {
			return scalar(lookup(item, "apiVersion"))
		}
		item, path = list.Content[i], path[len(m[0]):]
	}
}

// file returns where item was read from, by the annotations kpt and
// kustomize set, or nil when they are absent.
func file(item *yaml.RNode) *framework.File {
	path, index, _ := kioutil.GetFileAnnotations(item)
	if path == "" {
		return nil
	}
	i, _ := strconv.Atoi(index)
	return &framework.File{Path: path, Index: i}
}
