// Package syncbench is `make bench-sync`: kmirror sync against skopeo on
// real registries. It starts a source registry and three fresh mirrors
// (CNCF distribution, TLS, basic auth), fills the source with 40
// generated images of 2 to 3 platforms, 3 layers each and 1 to 4 MB per
// layer, and times, each into a mirror of its own:
//
//   - kmirror sync --images LIST;
//   - skopeo sync --all --preserve-digests of the same list;
//   - a loop of skopeo copy --all --preserve-digests, one image at a time;
//
// then a second kmirror sync into its mirror, which finds nothing to copy.
// It does so in three rounds, each into fresh mirrors and in another order,
// and reports the medians, since a shared machine's load moves single runs
// by a third. Every mirror's digests are checked against the source before
// the figures count. The code is in bench_test.go.
package syncbench
