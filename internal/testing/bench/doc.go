// Package bench measures how fast "kmirror rewrite" is, against a baseline
// that does the least any kyaml-based tool does with a stream. "make bench"
// runs it.
//
// # The stream
//
// [Generate] writes a synthetic, deterministic (seeded) stream of a given
// size: Pods, PodTemplates, Deployments, ReplicaSets, StatefulSets,
// DaemonSets, ReplicationControllers, Jobs, CronJobs, a "kind: List" with
// items, custom resources embedding pod specs (an Argo Rollout, a Kubeflow
// PyTorchJob), a Pod written as JSON, a CustomResourceDefinition whose
// schema describes containers, Services, and ConfigMaps whose data mentions
// images. Images come plain, single- and double-quoted, with tags, digests
// or both, from Docker Hub (short names included), from registries the
// default rules map and registries they do not, behind the direct.to/
// escape, and already on the mirror. The generator counts the image fields
// kmirror walks and those the default rules rewrite, so the benchmark can
// check kmirror's output against them.
//
// # The baseline
//
// [Baseline] splits the stream into documents as it reads it, decodes each
// document on its own with kyaml's yaml.Parse and encodes it back with
// String, rewriting nothing. It decodes document by document because
// kio.ByteReader decodes a whole stream through one yaml.v3 decoder, which
// on a 20,000-document stream is some twenty times slower and takes
// gigabytes.
//
// # What is measured
//
// Both sides run as processes of their own, so that each peak RSS is its
// own: kmirror is built once from this module ("go build -trimpath") and
// run as "kmirror rewrite -q FILE"; the baseline is the test binary run
// again with KMIRROR_BENCH_BASELINE=FILE, which TestMain sends to Baseline.
// Both write to the null device. Each runs five times, interleaved; a
// figure is the median wall (or CPU) time of the five, and the largest
// peak RSS (ru_maxrss of the child, Linux only). MB means 10^6 bytes. The
// ns/op of these benchmarks is the time of all the runs and means little.
//
//   - BenchmarkRewrite, on a 12.5 MB stream of more than 20,000 documents:
//     kmirror-MB/s, baseline-MB/s, time-ratio (kmirror's wall time over
//     the baseline's; the target is at most 1.3), cpu-time-ratio (the same
//     for user plus system time, steadier on a busy machine),
//     kmirror-peak-RSS-MB (the target is under 100), baseline-peak-RSS-MB
//     and documents. Before timing, it runs kmirror once and checks its
//     output: the summary counts the images the generator expects, and the
//     only lines that differ from the input are those image fields.
//   - BenchmarkRewriteScaling: kmirror alone on 10 MB and 100 MB streams;
//     the MB/s and peak RSS of each, and per-MB-time-ratio-100MB/10MB, the
//     time per MB at 100 MB over that at 10 MB, which is 1 when time grows
//     linearly (the table calls up to 1.25 linear, for noise), and the same
//     for CPU time.
//   - BenchmarkRewriteShapes: kmirror on 47 MB streams of the shapes
//     that a reader of documents would hold whole: one "kind: List" with
//     its kind after its items, as "kubectl get -o yaml" writes it; JSON
//     objects one a line with no "---"; and the stream with every line
//     break a lone CR. shapeN-peak-RSS-MB is the peak RSS of each, against
//     the 64 MB target of BenchmarkRewritePaths.
//   - BenchmarkRewriteInProcess: manifest.Rewrite on a 2 MB stream in the
//     benchmark's process, for profiling with -cpuprofile and -memprofile.
//
// Each benchmark also prints a short table to stdout, with the machine it
// ran on. Speed is only measured here, in benchmarks, never in tests.
package bench
