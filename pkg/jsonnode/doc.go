// Package jsonnode parses JSON (RFC 8259) into the yaml.Node tree that
// yaml.v3 makes of the same document: the same kinds, tags, values and
// styles, and lines and columns counted as yaml.v3 counts them in ASCII
// (a line ends at "\n"; a column counts bytes from 1). The walk of package
// manifest reads that tree, so JSON read by the CLI and by the webhook is
// walked by the same code as YAML.
//
// It exists because JSON is not quite YAML: yaml.v3 refuses valid JSON
// such as the "\/" escape and escaped surrogate pairs ("\ud83d\ude80"),
// which Python's json.dumps writes; this parser accepts exactly what
// encoding/json accepts and reads the same strings (a fuzz test holds it
// to that). It is also fast: yaml.v3 takes 250µs and 1,450 allocations for
// a 5 KB object, Parse 10µs and 6, and the values of the tree share the
// memory of one copy of the input.
package jsonnode
