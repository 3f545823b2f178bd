package admission

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Whoever sends a review chooses its strings: an image of 5 MiB, a name
// of 1 MiB. What kmirror repeats of them, in warnings, error bodies and
// log lines, is cut short, so that an answer or a log line stays a few
// hundred bytes whatever the review holds. (The API server keeps only the
// first 256 characters of a warning anyway.)
const (
	// maxEcho bounds one repeated string: an image, a name, a path.
	maxEcho = 128
	// maxMessage bounds a whole warning, error or log message.
	maxMessage = 512
	// maxListed bounds the warnings of an answer and the images listed
	// in a log line; the rest are counted.
	maxListed = 10
)

// clip returns s when it is at most max bytes long, and otherwise its
// start, cut at a character boundary, with an ellipsis and the length:
// `AAAA… (5242880 bytes)`.
func clip(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "… (" + strconv.Itoa(len(s)) + " bytes)"
}

// clipMessage returns msg with each run of more than maxEcho bytes without
// a space clipped, and the whole clipped to maxMessage: an error that
// quotes an image quotes its start.
func clipMessage(msg string) string {
	if len(msg) <= maxMessage {
		return msg
	}
	var b strings.Builder
	for rest := msg; rest != "" && b.Len() <= maxMessage; {
		word, after, found := strings.Cut(rest, " ")
		b.WriteString(clip(word, maxEcho))
		if found {
			b.WriteByte(' ')
		}
		rest = after
	}
	return clip(b.String(), maxMessage)
}

// listed returns the first maxListed items, and a last one that counts the
// others.
func listed(items []string) []string {
	if len(items) <= maxListed {
		return items
	}
	return append(items[:maxListed:maxListed], "and "+strconv.Itoa(len(items)-maxListed)+" more")
}
