package admission

import (
	"encoding/json"
	"fmt"
	"maps"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"kmirror.dev/kmirror/pkg/manifest"
	"kmirror.dev/kmirror/pkg/mirror"
)

// EscapedAnnotation records, in the metadata beside a pod spec, the images
// the webhook escaped in that spec: a JSON object from "<list>/<name>"
// ("containers/app") to the image as it was stored ("busybox:latest").
const EscapedAnnotation = "kmirror.dev/escaped"

// maxRecordBytes bounds the escape annotations read in one object: a
// record is some 50 bytes a container, and decoding one costs ten times
// its size. A record past the bound is read as empty, so its images are
// decided again.
const maxRecordBytes = 64 << 10

// memory reads the escape annotation of each pod spec of one object, and
// works out the patch that keeps it up to date. When the rules do not
// escape images it does neither: the annotation would otherwise keep
// images of any Pod that carries it unmirrored.
type memory struct {
	root     *yaml.Node
	escaping bool
	specs    map[string]*specMemory
	order    []string
	// read counts the bytes of the annotations read.
	read     int
	warnings []string
}

// specMemory is the escape annotation of one pod spec.
type specMemory struct {
	// meta is the path of the metadata beside the spec; node and
	// annotations are that mapping and its annotations, nil when absent.
	meta              manifest.Path
	node, annotations *yaml.Node
	// prior is what the annotation says; now what it should say.
	prior, now map[string]string
}

func newMemory(root *yaml.Node, escaping bool) *memory {
	return &memory{root: root, escaping: escaping, specs: map[string]*specMemory{}}
}

// recorded reports whether img is the image the annotation records for f.
func (m *memory) recorded(f manifest.Field, img string) bool {
	s := m.spec(f)
	return s != nil && s.prior[entry(f)] == img
}

// keep notes the decision for f: an escaped image is recorded, and a
// recorded image that stays is kept on record.
func (m *memory) keep(f manifest.Field, d mirror.Decision) {
	s := m.spec(f)
	if s == nil {
		return
	}
	if e := entry(f); d.Action == mirror.Escaped && d.Changed() || s.prior[e] == d.Result {
		s.now[e] = d.Result
	}
}

// ops returns the patch operations that bring each annotation up to date.
func (m *memory) ops() ([]patchOp, error) {
	var ops []patchOp
	for _, key := range m.order {
		s := m.specs[key]
		if maps.Equal(s.prior, s.now) {
			continue
		}
		op, err := s.op(m.root)
		if err != nil {
			return ops, err
		}
		ops = append(ops, op)
	}
	return ops, nil
}

// op returns the patch operation that sets the annotation to s.now.
func (s *specMemory) op(root *yaml.Node) (patchOp, error) {
	annotations := append(s.meta[:len(s.meta):len(s.meta)], manifest.PathElem{Key: "annotations"})
	at := append(annotations[:len(annotations):len(annotations)], manifest.PathElem{Key: EscapedAnnotation})
	path := at
	var value any
	switch b, _ := json.Marshal(s.now); {
	case len(s.now) == 0:
		p, err := pointer(root, at)
		return patchOp{Op: "remove", Path: p}, err
	case s.node == nil:
		path, value = s.meta, map[string]any{"annotations": map[string]string{EscapedAnnotation: string(b)}}
	case s.annotations == nil:
		path, value = annotations, map[string]string{EscapedAnnotation: string(b)}
	default:
		value = string(b)
	}
	p, err := pointer(root, path)
	return patchOp{Op: "add", Path: p, Value: value}, err
}

// spec returns the memory of f's pod spec, or nil when f cannot be
// remembered: it has no name, or its pod spec no metadata beside it (the
// spec is not a "spec" field).
func (m *memory) spec(f manifest.Field) *specMemory {
	if !m.escaping {
		return nil
	}
	sp, ok := specPath(f)
	if !ok || f.Name == "" || len(sp) == 0 || sp[len(sp)-1].Key != "spec" {
		return nil
	}
	key := pathKey(sp)
	if s, ok := m.specs[key]; ok {
		return s
	}
	meta := append(sp[:len(sp)-1:len(sp)-1], manifest.PathElem{Key: "metadata"})
	s := &specMemory{meta: meta, prior: map[string]string{}, now: map[string]string{}}
	if n := find(m.root, meta); n != nil && n.Kind == yaml.MappingNode {
		s.node = n
		if a := child(n, "annotations"); a != nil && a.Kind == yaml.MappingNode {
			s.annotations = a
			if v := child(a, EscapedAnnotation); v != nil && v.Kind == yaml.ScalarNode {
				s.prior = m.record(v.Value)
			}
		}
	}
	m.specs[key] = s
	m.order = append(m.order, key)
	return s
}

// record decodes an escape annotation. A value that is not such an object
// records nothing, nor one past the bound of maxRecordBytes.
func (m *memory) record(v string) map[string]string {
	over := m.read > maxRecordBytes
	if m.read += len(v); m.read > maxRecordBytes {
		if over {
			return map[string]string{}
		}
		m.warnings = append(m.warnings, fmt.Sprintf("kmirror: the %s annotations of the object are longer than %d bytes in all; images they record are decided again", EscapedAnnotation, maxRecordBytes))
		return map[string]string{}
	}
	var prior map[string]string
	if json.Unmarshal([]byte(v), &prior) != nil || prior == nil {
		return map[string]string{}
	}
	return prior
}

// entry names f within its pod spec.
func entry(f manifest.Field) string { return f.List + "/" + f.Name }
