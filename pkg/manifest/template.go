package manifest

import "strings"

// placeholders open the parameters that a tool fills in before the image
// is pulled: Tekton's and Shipwright's "$(params.x)", Argo's and Helm's
// "{{inputs.parameters.x}}", envsubst's "${X}".
var placeholders = [...]string{"$(", "{{", "${"}

// splitPlaceholder splits an image whose registry and repository are
// written out and whose tag or digest holds a placeholder:
// "docker.io/library/golang:$(params.version)" is the name
// "docker.io/library/golang" and the tail ":$(params.version)". The rules
// decide the name, and the tail stays as written. It reports false for an
// image without a placeholder, and for one whose name holds one (a
// placeholder before the last "/", or no ":" or "@" before it): such an
// image is known only once it is filled in.
func splitPlaceholder(img string) (name, tail string, ok bool) {
	at := -1
	for _, p := range placeholders {
		if i := strings.Index(img, p); i >= 0 && (at < 0 || i < at) {
			at = i
		}
	}
	if at < 0 || strings.Contains(img[at:], "/") {
		return "", "", false
	}
	literal := img[:at]
	cut := strings.IndexAny(literal[strings.LastIndexByte(literal, '/')+1:], ":@")
	if cut < 0 {
		return "", "", false
	}
	cut += strings.LastIndexByte(literal, '/') + 1
	if cut == 0 {
		return "", "", false
	}
	return img[:cut], img[cut:], true
}
