// Package admission is kmirror's mutating admission webhook: an
// AdmissionReview in, a JSON patch out. It decides images only through the
// walk of package manifest and the engine of package mirror, the same code
// `kmirror rewrite` runs, so the webhook and the CLI cannot disagree.
//
// [Mutate] is the decision for one object. The object arrives as JSON,
// which is YAML, so it is parsed into the same node tree the CLI walks;
// every image field the walk finds that the engine changes becomes one
// "replace" operation at the field's JSON pointer. Two rules keep the
// webhook from undoing what it decided before:
//
//   - On UPDATE, an image equal to the image of the same container (same
//     pod spec, same list, same name) in the old object is left alone. An
//     image that was escaped with "direct.to/" on CREATE is stored plain,
//     and a later UPDATE does not mirror it.
//   - When an image is escaped, the metadata beside its pod spec (the Pod's
//     own, or a template's) gets the annotation [EscapedAnnotation], a JSON
//     object from "<list>/<container name>" to the escaped image. An image
//     equal to the one recorded for its container is left alone. This keeps
//     the escape across a reinvocation after another webhook changed the
//     Pod (reinvocationPolicy: IfNeeded), where there is no old object, and
//     carries it from a Deployment's template to the Pods made from it.
//
// [Handler] serves AdmissionReviews of admission.k8s.io/v1 and v1beta1 over
// HTTP, answering in the version it was asked in, with hardened request
// handling: limits on each review (see [MaxValues]) and on the memory of
// the reviews in flight, answered 413 and 503 so that the API server
// applies the failure policy, and no more than a few hundred bytes of what
// a client sent repeated in an answer or a log line. [Server] runs it over
// TLS with health checks, metrics, a certificate reloaded from disk by
// [CertWatcher], rules reloaded by [RulesWatcher], and graceful shutdown;
// [BatchWriter] keeps log writes off the requests' path.
//
// [Swap] is an optional step after the decision (--swap-policy exists): an
// image the engine mirrors goes to the mirror only when the mirror holds
// it, as a [MirrorChecker] answers within the review's budget; otherwise
// it stays as written, with a warning, and may be given to a [CopyQueue].
//
// The handler is built for throughput, without leaving the walk and the
// engine: it parses each review once, with a JSON parser that makes the
// tree yaml.v3 would make, in memory reused from request to request; it
// remembers the engine's decision for each image; and it writes its answer
// without reflection. Tests hold each shortcut to what it replaces.
package admission
