package loadgen

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"slices"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"

	"kmirror.dev/kmirror/pkg/certs"
)

func TestReviewsAreRealisticAndRepeatable(t *testing.T) {
	a, b := Reviews(50, 7), Reviews(50, 7)
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			t.Fatalf("review %d differs between two runs of the same seed", i)
		}
		var review admissionv1.AdmissionReview
		if err := json.Unmarshal(a[i], &review); err != nil {
			t.Fatal(err)
		}
		var pod corev1.Pod
		if err := json.Unmarshal(review.Request.Object.Raw, &pod); err != nil {
			t.Fatal(err)
		}
		n := len(pod.Spec.Containers) + len(pod.Spec.InitContainers)
		if review.APIVersion != "admission.k8s.io/v1" || review.Request.Operation != admissionv1.Create || n < 3 || n > 6 {
			t.Errorf("review %d: %s %s with %d containers", i, review.APIVersion, review.Request.Operation, n)
		}
	}
	if slices.Equal(Reviews(1, 1)[0], Reviews(1, 2)[0]) {
		t.Error("two seeds make the same review")
	}
}

// startTestCeiling serves the ceiling in-process on 127.0.0.1.
func startTestCeiling(t *testing.T) (string, *http.Client) {
	t.Helper()
	b, err := certs.Generate([]string{"127.0.0.1"}, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(b.Cert, b.Key)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() { _ = ServeCeiling(ln, cert) }()
	client, err := NewClient(b.CA, 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.CloseIdleConnections)
	return "https://" + ln.Addr().String() + "/", client
}

func TestRunMeasuresEveryRequest(t *testing.T) {
	url, client := startTestCeiling(t)
	for _, rate := range []float64{0, 2000} {
		r := Run(context.Background(), Config{URL: url, Client: client, Bodies: Reviews(10, 1), Requests: 200, Concurrency: 4, Rate: rate,
			Check: func(_ int, body []byte) error {
				if !bytes.Equal(body, CeilingAnswer) {
					return errors.New("not the ceiling's answer")
				}
				return nil
			}})
		if r.Requests != 200 || r.Errors != 0 || len(r.Latencies) != 200 || r.FirstError != nil {
			t.Fatalf("rate %v: %d requests, %d errors (%v), %d latencies", rate, r.Requests, r.Errors, r.FirstError, len(r.Latencies))
		}
		if !slices.IsSorted(r.Latencies) || r.Percentile(0.5) > r.Percentile(0.99) || r.Throughput() <= 0 {
			t.Errorf("rate %v: latencies not sorted or percentiles out of order", rate)
		}
	}
	var total Result
	total.Add(&Result{Requests: 2, Latencies: []time.Duration{3, 1}, Elapsed: time.Second})
	total.Add(&Result{Requests: 1, Errors: 1, FirstError: errors.New("x"), Latencies: []time.Duration{2}, Elapsed: time.Second})
	if total.Requests != 3 || total.Errors != 1 || total.FirstError == nil || !slices.Equal(total.Latencies, []time.Duration{1, 2, 3}) || total.Throughput() != 1.5 {
		t.Errorf("Add: %+v", total)
	}
}

func TestRunCountsErrors(t *testing.T) {
	url, client := startTestCeiling(t)
	r := Run(context.Background(), Config{URL: url, Client: client, Bodies: Reviews(1, 1), Requests: 20, Concurrency: 2,
		Check: func(int, []byte) error { return errors.New("wrong answer") }})
	if r.Errors != 20 || len(r.Latencies) != 0 || r.FirstError == nil {
		t.Errorf("%d errors, %d latencies, first %v; want 20 errors", r.Errors, len(r.Latencies), r.FirstError)
	}
	r = Run(context.Background(), Config{URL: url + "nowhere", Client: &http.Client{}, Bodies: Reviews(1, 1), Requests: 3, Concurrency: 1})
	if r.Errors != 3 {
		t.Errorf("%d errors with an untrusted certificate, want 3", r.Errors)
	}
}
