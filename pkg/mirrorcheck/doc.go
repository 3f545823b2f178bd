// Package mirrorcheck answers whether the mirror holds an image, for the
// webhook's --swap-policy exists, in bounded time and memory:
//
//   - each check is one HEAD request (through a registry.Prober, which
//     logs in once per repository), within a time limit;
//   - the answers are cached, "present" for long and "missing" for a
//     short while, since a missing image may be copied at any time; a
//     check that failed is remembered for a few seconds, so that a
//     registry that is down costs one Pod the time limit, not every Pod;
//   - the cache is bounded in bytes and evicts by frequency (otter's
//     W-TinyLFU): a flood of images asked about once does not push out
//     the answers that other Pods ask for again and again;
//   - concurrent checks of one image share one request (otter's loader),
//     the requests in flight are bounded, and so are the checks waiting
//     for one, in all and for each review: one review of hundreds of new
//     images waits for a few checks, and leaves the others their share;
//   - a caller that stops waiting (its review's budget is spent) leaves
//     the check running for the next caller, within its time limit.
//
// A copy that completes tells the Checker with SetPresent, so that the
// next Pod goes to the mirror without waiting for the cache to expire; a
// check in flight then answers present too.
package mirrorcheck
