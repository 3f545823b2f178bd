package fieldpath

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want Path
	}{
		{"spec.image", Path{{Op: Key, Key: "spec"}, {Op: Key, Key: "image"}}},
		{"spec.stages[].runner.image", Path{{Op: Key, Key: "spec"}, {Op: Key, Key: "stages"}, {Op: Each},
			{Op: Key, Key: "runner"}, {Op: Key, Key: "image"}}},
		{"spec.predictor.*.image", Path{{Op: Key, Key: "spec"}, {Op: Key, Key: "predictor"}, {Op: AnyKey}, {Op: Key, Key: "image"}}},
		{"spec.steps[][].inline.image", Path{{Op: Key, Key: "spec"}, {Op: Key, Key: "steps"}, {Op: Each}, {Op: Each},
			{Op: Key, Key: "inline"}, {Op: Key, Key: "image"}}},
		{"spec.taskRef.params[name=bundle].value", Path{{Op: Key, Key: "spec"}, {Op: Key, Key: "taskRef"}, {Op: Key, Key: "params"},
			{Op: Where, Key: "name", Value: "bundle"}, {Op: Key, Key: "value"}}},
		{"spec.images[]", Path{{Op: Key, Key: "spec"}, {Op: Key, Key: "images"}, {Op: Each}}},
		{"*[].image", Path{{Op: AnyKey}, {Op: Each}, {Op: Key, Key: "image"}}},
		{"spec.x-y/z_1.image", Path{{Op: Key, Key: "spec"}, {Op: Key, Key: "x-y/z_1"}, {Op: Key, Key: "image"}}},
		{"a[k=v.w=x*]", Path{{Op: Key, Key: "a"}, {Op: Where, Key: "k", Value: "v.w=x*"}}},
		{"spec.(*[].pipelineSpec)*.tasks[].image", Path{{Op: Key, Key: "spec"},
			{Op: Repeat, Sub: Path{{Op: AnyKey}, {Op: Each}, {Op: Key, Key: "pipelineSpec"}}},
			{Op: Key, Key: "tasks"}, {Op: Each}, {Op: Key, Key: "image"}}},
		{"(a.(b)*.c)*.image", Path{{Op: Repeat, Sub: Path{{Op: Key, Key: "a"}, {Op: Repeat, Sub: Path{{Op: Key, Key: "b"}}}, {Op: Key, Key: "c"}}},
			{Op: Key, Key: "image"}}},
		{"a[k=(v)]", Path{{Op: Key, Key: "a"}, {Op: Where, Key: "k", Value: "(v)"}}},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := Parse(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Parse (-want +got):\n%s", diff)
			}
			if s := got.String(); s != tc.in {
				t.Errorf("String() = %q, want %q", s, tc.in)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		in     string
		column int
		msg    string
	}{
		{"", 1, "empty path"},
		{"spec..image", 6, "empty key"},
		{".spec", 1, "empty key"},
		{"spec.", 6, "empty key"},
		{"spec.[]", 6, "needs the key of the list"},
		{"[].image", 1, "needs the key of the list"},
		{"spec.image*", 11, `"*" stands alone`},
		{"spec.*x.image", 6, `"*" stands alone`},
		{"spec.**.image", 6, `"*" stands alone`},
		{"spec.list[", 10, "a bracket holds nothing"},
		{"spec.list[0]", 10, "a bracket holds nothing"},
		{"spec.list[name]", 10, "a bracket holds nothing"},
		{"spec.list[name=]", 16, "empty value"},
		{"spec.list[name=a", 10, "is not closed"},
		{"spec.list[]x", 12, `unexpected 'x'`},
		{"spec.a=b", 7, `unexpected '='`},
		{"spec.a]", 7, `unexpected ']'`},
		{"spec. image", 6, "white space"},
		{"spec.ïmage x", 11, "white space"},
		{"metadata.annotations.image", 1, "metadata is never walked"},
		{"spec.(a)*", 10, "must be followed by the rest"},
		{"spec.(a).b", 9, `written "(...)*"`},
		{"spec.(a.b", 6, "not closed"},
		{"spec.()*.b", 7, "empty key"},
		{"spec.(a)*b", 10, `unexpected 'b'`},
		{"spec.a)", 7, `unexpected ')'`},
		{"spec.a(b)", 7, `unexpected '('`},
		{"spec.(metadata)*.image", 7, "metadata is never walked"},
		{"spec.template.metadata.annotations.image", 15, "metadata is never walked"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			_, err := Parse(tc.in)
			var se *SyntaxError
			if !errors.As(err, &se) || !errors.Is(err, ErrSyntax) {
				t.Fatalf("Parse = %v, want a *SyntaxError", err)
			}
			if se.Column != tc.column || !strings.Contains(se.Msg, tc.msg) {
				t.Errorf("error %q (column %d), want column %d and %q", err, se.Column, tc.column, tc.msg)
			}
		})
	}
}
