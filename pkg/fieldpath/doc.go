// Package fieldpath parses the paths that name image fields of custom
// resources, as a MirrorRules file declares them under spec.imageFields
// and as kmirror's built-in fields are written:
//
//	spec.stages[].runner.image
//	spec.predictor.*.image
//	spec.taskRef.params[name=bundle].value
//	spec.(*[].pipelineSpec)*.tasks[].taskSpec.steps[].image
//
// The grammar:
//
//	path     := segment { "." segment }
//	segment  := ( key | "*" ) { "[]" | "[" key "=" value "]" } | "(" path ")*"
//	key      := one or more characters other than . [ ] = * ( ) and white space
//	value    := one or more characters other than ] and white space
//
// A key is a key of a mapping; "*" is any key of a mapping; "[]" is every
// entry of a list; "[name=bundle]" is every entry of a list that is a
// mapping whose "name" is "bundle". A group "(...)*" is its path any number
// of times, none included, for structures that nest without a bound, as a
// Tekton pipeline holds pipelines in its tasks; more of the path must
// follow it. A path starts at the root of an object and ends at the field
// that holds the image: a key, or "[]" for a list of images.
//
// A path that no object could match is a *SyntaxError: an empty segment
// ("a..b"), a bracket that is not closed or holds something else, a "*"
// inside a key, white space, or a key "metadata": kmirror never walks
// metadata, where labels and annotations only mention images.
package fieldpath
