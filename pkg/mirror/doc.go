// Package mirror is the engine that decides where an image is pulled from.
// It takes rules and an image reference and returns the image to use and
// why. It knows nothing of YAML or HTTP: the CLI, the KRM function and the
// admission webhook all call [Engine.Decide], so they cannot disagree.
//
// The decision, in order:
//
//  1. An image that starts with the escape prefix ("direct.to/") loses the
//     prefix and is never mirrored. The prefix comes off before step 2, so
//     "direct.to/Not:Valid" becomes "Not:Valid", an invalid image.
//  2. An image that is not a valid reference is left as written.
//  3. An image already under some rule's "to" is left alone, so that
//     rewriting twice equals rewriting once.
//  4. Otherwise the rule with the longest matching "from" wins, whatever the
//     order of the rules; the result is its "to" followed by the rest of the
//     image as written.
//  5. An image no rule matches is left as written.
package mirror
