package loadgen

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"kmirror.dev/kmirror/pkg/admission"
)

// MaxReviewBytes is the largest review the hostile reviews make: just under
// the 7 MiB body limit of kmirror serve.
const MaxReviewBytes = 7<<20 - 4<<10

// Hostile is a kind of review made to cost the webhook as much as a review
// up to the body limit can: each finding of the webhook's "Trust" issue,
// and the shapes that multiply the work of the walk and of the answer.
type Hostile struct {
	// Name says what the reviews attack.
	Name string
	// Over says that the reviews are over the limits of kmirror serve,
	// which answers them 413; it answers the others 200.
	Over bool
	// Review returns the i-th review; reviews differ by i where that
	// matters (distinct images defeat the decision cache).
	Review func(i int) []byte
}

// HostileReviews are the hostile kinds of reviews, each up to the body
// limit: the findings of the issue, then reviews just within each limit
// of kmirror serve, which it must answer.
var HostileReviews = []Hostile{
	// Two distinct invalid 1 MiB images per review: the decision cache
	// kept them all.
	{"invalid-images", false, func(i int) []byte {
		img := func(k int) string { return strings.Repeat("A", 1<<20) + strconv.Itoa(2*i+k) }
		return review(i, "CREATE", pod(jsonContainer("a", img(0)), jsonContainer("b", img(1))), "")
	}},
	// A 3 MiB Pod whose args are a million empty strings, on UPDATE with
	// its old object: 2 million JSON values in 6 MiB.
	{"empty-args", true, func(i int) []byte {
		c := fmt.Sprintf(`{"name":"app","image":"nginx:%d","args":[%s""]}`, i, strings.Repeat(`"",`, (3<<20-200)/3))
		p := pod(c)
		return review(i, "UPDATE", p, p)
	}},
	// A 5 MiB invalid image, which was echoed in the warning, the answer
	// and the log line.
	{"huge-image", false, func(i int) []byte {
		return review(i, "CREATE", pod(jsonContainer("app", strings.Repeat("A", 5<<20)+strconv.Itoa(i))), "")
	}},
	// A pod spec under 9,000 levels of objects: every path of the walk is
	// 9,000 elements long.
	{"deep", true, func(i int) []byte {
		const depth = 9000
		spec := `{"containers":[` + containers(i, MaxReviewBytes-8*depth-200, 0) + `]}`
		return review(i, "CREATE", `{"kind":"Widget",`+strings.Repeat(`"a":{`, depth)+`"spec":`+spec+strings.Repeat("}", depth)+`}`, "")
	}},
	// As many containers as fit, each with an image of its own that the
	// rules mirror: the patch has an operation for each.
	{"many-images", true, func(i int) []byte {
		return review(i, "CREATE", `{"kind":"Pod","metadata":{"name":"many"},"spec":{"containers":[`+containers(i, MaxReviewBytes-400, 0)+`]}}`, "")
	}},
	// As many containers, each with an invalid image: a warning for each.
	{"many-warnings", true, func(i int) []byte {
		var b strings.Builder
		for k := 0; b.Len() < MaxReviewBytes-400; k++ {
			if k > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"name":"c%d","image":"X%d"}`, k, i)
		}
		return review(i, "CREATE", `{"kind":"Pod","metadata":{"name":"warn"},"spec":{"containers":[`+b.String()+`]}}`, "")
	}},
	// A pod spec under a 3 MiB key, with 3 MiB of containers: every JSON
	// pointer of the patch starts with the key.
	{"long-key", true, func(i int) []byte {
		key := strings.Repeat("k", 3<<20)
		return review(i, "CREATE", `{"kind":"Widget","`+key+`":{"containers":[`+containers(i, 3<<20, 0)+`]}}`, "")
	}},
	// An object with 3 MiB of keys before its pod spec: every lookup of
	// the spec passes them all.
	{"wide", true, func(i int) []byte {
		var b strings.Builder
		for k := 0; b.Len() < 3<<20; k++ {
			fmt.Fprintf(&b, `"k%d":0,`, k)
		}
		return review(i, "CREATE", `{"kind":"Widget",`+b.String()+`"spec":{"containers":[`+containers(i, 3<<20, 0)+`]}}`, "")
	}},
	// An escape annotation of 6 MiB of tiny entries.
	{"escape-annotation", false, func(i int) []byte {
		var b strings.Builder
		b.WriteByte('{')
		for k := 0; b.Len() < 4<<20; k++ {
			if k > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `"%x":"x"`, k)
		}
		b.WriteByte('}')
		ann, _ := json.Marshal(b.String())
		return review(i, "CREATE", `{"kind":"Pod","metadata":{"name":"ann","annotations":{"kmirror.dev/escaped":`+string(ann)+`}},`+
			`"spec":{"containers":[{"name":"app","image":"nginx:`+strconv.Itoa(i)+`"}]}}`, "")
	}},
	// Just under the limit of JSON values, in the args of one container.
	{"values-at-limit", false, func(i int) []byte {
		return review(i, "CREATE", pod(fmt.Sprintf(`{"name":"app","image":"nginx:%d","args":[%s""]}`, i, strings.Repeat(`"",`, admission.MaxValues-100))), "")
	}},
	// Just under the nesting limit, with as many values as allowed at the
	// bottom: the walk copies the path to each.
	{"deep-at-limit", false, func(i int) []byte {
		const depth = admission.MaxDepth - 6
		values := `[` + strings.Repeat(`0,`, admission.MaxValues-2*depth-100) + `0]`
		return review(i, "CREATE", `{"kind":"Widget","spec":{"containers":[{"name":"app","image":"nginx:`+strconv.Itoa(i)+`"}]},`+
			strings.Repeat(`"a":{`, depth)+`"x":`+values+strings.Repeat("}", depth)+`}`, "")
	}},
	// As many images as allowed, each mirrored, at the longest path
	// allowed, in an object with old and new: the largest patch.
	{"images-at-limit", false, func(i int) []byte {
		key := strings.Repeat("k", admission.MaxPathBytes-len(".containers[999].image"))
		object := `{"kind":"Widget","metadata":{"name":"w"},"` + key + `":{"containers":[` + containers(i, 0, admission.MaxImages) + `]}}`
		return review(i, "UPDATE", object, strings.Replace(object, `"a`, `"b`, -1))
	}},
	// As many invalid images as allowed, each as long as the engine is
	// asked about: a warning for each.
	{"warnings-at-limit", false, func(i int) []byte {
		var b strings.Builder
		for k := range admission.MaxImages {
			if k > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"name":"c%d","image":"%s%06d"}`, k, strings.Repeat("X", 1000), i)
		}
		return review(i, "CREATE", `{"kind":"Pod","metadata":{"name":"warn"},"spec":{"containers":[`+b.String()+`]}}`, "")
	}},
	// As many keys as allowed before a pod spec with as many images as
	// allowed: each pointer of the patch looks through the keys.
	{"wide-at-limit", false, func(i int) []byte {
		var b strings.Builder
		for k := range admission.MaxValues/2 - 4*admission.MaxImages {
			fmt.Fprintf(&b, `"k%d":0,`, k)
		}
		return review(i, "CREATE", `{"kind":"Widget",`+b.String()+`"spec":{"containers":[`+containers(i, 0, admission.MaxImages)+`]}}`, "")
	}},
}

// jsonContainer returns a container with a name and an image, in JSON.
func jsonContainer(name, image string) string {
	b, _ := json.Marshal(map[string]string{"name": name, "image": image})
	return string(b)
}

// pod returns a Pod with the containers given, in JSON.
func pod(containers ...string) string {
	return `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"hostile","namespace":"default"},"spec":{"containers":[` +
		strings.Join(containers, ",") + `]}}`
}

// containers returns about size bytes of containers, or count of them,
// each with an image of its own that the default rules mirror.
func containers(i, size, count int) string {
	var b bytes.Buffer
	for k := 0; size > 0 && b.Len() < size || count > 0 && k < count; k++ {
		if k > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"name":"c%d","image":"a%d:%d"}`, k, k, i)
	}
	return b.String()
}

// review returns an AdmissionReview of object, and on UPDATE of old.
func review(i int, op, object, old string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"00000000-0000-4000-9000-%012d",`+
		`"kind":{"group":"","version":"v1","kind":"Pod"},"resource":{"group":"","version":"v1","resource":"pods"},`+
		`"namespace":"default","name":"hostile","operation":%q,"object":%s`, i, op, object)
	if old != "" {
		fmt.Fprintf(&b, `,"oldObject":%s`, old)
	}
	b.WriteString("}}")
	if b.Len() > MaxReviewBytes {
		panic(fmt.Sprintf("a hostile review of %d bytes, over %d", b.Len(), MaxReviewBytes))
	}
	return b.Bytes()
}
