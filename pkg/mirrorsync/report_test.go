package mirrorsync

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestNewReport(t *testing.T) {
	rep := NewReport([]Result{
		{Pair: Pair{"a:1", "m/a:1"}, Status: Copied, Digest: d1, Bytes: 10, Duration: 1500 * time.Millisecond},
		{Pair: Pair{"b:1", "m/b:1"}, Status: Failed, Err: errors.New("checking b:1: not found in r")},
		{Pair: Pair{"c:1", "m/c:1"}, Status: Interrupted, Err: context.Canceled},
	}, false)
	want := Report{
		Summary: Summary{Copied: 1, Failed: 1, Interrupted: 1, Bytes: 10},
		Images: []ReportImage{
			{Pair: Pair{"a:1", "m/a:1"}, Status: Copied, Digest: d1, Bytes: 10, Seconds: 1.5},
			{Pair: Pair{"b:1", "m/b:1"}, Status: Failed, Error: "checking b:1: not found in r"},
			{Pair: Pair{"c:1", "m/c:1"}, Status: Interrupted},
		},
	}
	if diff := cmp.Diff(want, rep); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if rep := NewReport(nil, true); rep.Images == nil || !rep.DryRun {
		t.Errorf("a whole dry run with nothing to do: %+v", rep)
	}
}
