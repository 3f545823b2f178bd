package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
)

// Options says what stream Generate writes.
type Options struct {
	// Seed picks the stream: the same seed and size give the same bytes.
	Seed uint64
	// Size is the length to reach, in bytes; the stream ends with the
	// document that reaches it.
	Size int
}

// Stats describes a generated stream, so that a benchmark can hold
// kmirror's output to it.
type Stats struct {
	Bytes     int
	Documents int
	// Kinds counts the documents by kind; the items of a List are counted
	// in the List.
	Kinds map[string]int
	// Images counts the image fields kmirror walks; Rewrites counts those
	// that the default rules change. Images merely mentioned, in ConfigMaps,
	// annotations, environment variables, comments and the CRD, are not
	// counted.
	Images, Rewrites int
}

// kind writes one document of its kind into the generator's buffer.
type kind struct {
	name   string
	weight int
	write  func(g *generator)
}

// kinds is the mix of a stream, weighted so that a document averages under
// 600 bytes: 12.5 MB hold more than 21,000 documents. A third are
// ConfigMaps, which kmirror parses but does not walk.
var kinds = []kind{
	{"ConfigMap", 40, (*generator).configMap},
	{"Service", 12, (*generator).service},
	{"Pod", 18, (*generator).pod},
	{"PodTemplate", 3, (*generator).podTemplate},
	{"Deployment", 10, (*generator).deployment},
	{"ReplicaSet", 3, (*generator).replicaSet},
	{"StatefulSet", 4, (*generator).statefulSet},
	{"DaemonSet", 4, (*generator).daemonSet},
	{"ReplicationController", 2, (*generator).replicationController},
	{"Job", 5, (*generator).job},
	{"CronJob", 4, (*generator).cronJob},
	{"List", 3, (*generator).kindList},
	{"Rollout", 3, (*generator).rollout},
	{"PyTorchJob", 2, (*generator).pyTorchJob},
	{"Pod (JSON)", 2, (*generator).jsonPod},
	{"CustomResourceDefinition", 1, (*generator).crd},
}

var kindWeight = func() int {
	n := 0
	for _, k := range kinds {
		n += k.weight
	}
	return n
}()

type generator struct {
	rng   *rand.Rand
	stats *Stats
	// buf holds the document being written.
	buf bytes.Buffer
	// serial numbers the documents; names counts the names given.
	serial, names int
}

// Generate writes a synthetic stream of Kubernetes manifests to w: every
// kind kmirror walks, a List, custom resources that embed pod specs, a
// CustomResourceDefinition whose schema describes containers, Services and
// ConfigMaps whose data mentions images; with comments, plain, single- and
// double-quoted images, tags, digests, direct.to/ escapes, Docker Hub short
// names, registries with and without a rule, and images already mirrored.
// The first documents take each kind in turn, so even a short stream has
// them all; the rest are drawn at random.
func Generate(w io.Writer, opts Options) (Stats, error) {
	st := Stats{Kinds: map[string]int{}}
	g := &generator{rng: rand.New(rand.NewPCG(opts.Seed, 0x6b6d6972726f72)), stats: &st}
	bw := bufio.NewWriterSize(w, 256<<10)
	header := "# A synthetic stream for kmirror's rewrite benchmark. Generated; do not edit.\n"
	if _, err := bw.WriteString(header); err != nil {
		return st, fmt.Errorf("writing stream: %w", err)
	}
	st.Bytes = len(header)
	for st.Bytes < opts.Size {
		k := g.pick()
		g.buf.Reset()
		g.separator()
		k.write(g)
		st.Kinds[k.name]++
		st.Documents++
		st.Bytes += g.buf.Len()
		if _, err := bw.Write(g.buf.Bytes()); err != nil {
			return st, fmt.Errorf("writing stream: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return st, fmt.Errorf("writing stream: %w", err)
	}
	return st, nil
}

func (g *generator) pick() kind {
	g.serial++
	if g.serial <= len(kinds) {
		return kinds[g.serial-1]
	}
	n := g.rng.IntN(kindWeight)
	for _, k := range kinds {
		if n -= k.weight; n < 0 {
			return k
		}
	}
	return kinds[0]
}

// separator starts a document, in the ways streams found in the wild do.
func (g *generator) separator() {
	switch g.rng.IntN(20) {
	case 0:
		g.printf("\n---\n")
	case 1:
		g.printf("--- # %s\n", g.name("source"))
	case 2:
		g.printf("---\n# Source: chart/templates/%s.yaml\n", g.name("tpl"))
	default:
		g.printf("---\n")
	}
}

// chance is true once in n.
func (g *generator) chance(n int) bool { return g.rng.IntN(n) == 0 }

func (g *generator) printf(format string, args ...any) {
	fmt.Fprintf(&g.buf, format, args...)
}

// name returns a name unique in the stream.
func (g *generator) name(base string) string {
	g.names++
	return fmt.Sprintf("%s-%d", base, g.names)
}

func (g *generator) namespace() string {
	return fmt.Sprintf("team-%d", g.rng.IntN(40))
}
