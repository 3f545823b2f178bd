package ecrtest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"
)

// targetPrefix is the X-Amz-Target of every ECR operation, before its
// name.
const targetPrefix = "AmazonEC2ContainerRegistry_V20150921."

// scope reads the access key and region of a SigV4 Authorization header:
// "AWS4-HMAC-SHA256 Credential=AKID/20260101/cn-northwest-1/ecr/aws4_request, ...".
var scope = regexp.MustCompile(`^AWS4-HMAC-SHA256 Credential=([^/]+)/\d{8}/([^/]+)/([^/]+)/aws4_request,`)

// apiError is an error of ECR's API, as AWS JSON 1.1 carries it.
type apiError struct {
	status  int
	typ     string
	message string
}

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), targetPrefix)
	if r.Method != http.MethodPost || !ok {
		writeAPI(w, nil, &apiError{http.StatusBadRequest, "UnknownOperationException", "not an ECR operation"})
		return
	}
	m := scope.FindStringSubmatch(r.Header.Get("Authorization"))
	switch {
	case m == nil || m[3] != "ecr":
		writeAPI(w, nil, &apiError{http.StatusForbidden, "MissingAuthenticationTokenException", "the request is not signed with SigV4 for ecr"})
		return
	case s.o.AccessKeyID != "" && m[1] != s.o.AccessKeyID:
		writeAPI(w, nil, &apiError{http.StatusBadRequest, "UnrecognizedClientException", "The security token included in the request is invalid."})
		return
	}
	var in map[string]any
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err == nil {
		err = json.Unmarshal(body, &in)
	}
	if err != nil {
		writeAPI(w, nil, &apiError{http.StatusBadRequest, "SerializationException", err.Error()})
		return
	}
	s.mu.Lock()
	s.calls = append(s.calls, Call{Operation: op, Region: m[2], Input: in})
	s.mu.Unlock()
	out, aerr := s.operate(op, in)
	if aerr != nil {
		s.mu.Lock()
		s.errors[aerr.typ]++
		s.mu.Unlock()
	}
	s.mu.Lock()
	latency := s.o.APILatency
	s.mu.Unlock()
	time.Sleep(latency)
	writeAPI(w, out, aerr)
}

func (s *Server) operate(op string, in map[string]any) (any, *apiError) {
	if slices.Contains(s.o.Deny, op) {
		return nil, &apiError{http.StatusBadRequest, "AccessDeniedException",
			fmt.Sprintf("User: arn:aws:iam::%s:user/kmirror-test is not authorized to perform: ecr:%s", s.o.Account, op)}
	}
	switch op {
	case "GetAuthorizationToken":
		tok, exp := s.issue()
		return map[string]any{"authorizationData": []any{map[string]any{
			"authorizationToken": basicToken(tok),
			"expiresAt":          float64(exp.UnixMilli()) / 1000,
			"proxyEndpoint":      s.ProxyEndpoint(),
		}}}, nil
	case "CreateRepository":
		return s.create(in)
	case "DescribeRepositories":
		var repos []any
		for _, n := range names(in["repositoryNames"]) {
			r, err := s.lookup(n)
			if err != nil {
				return nil, err
			}
			repos = append(repos, s.describe(r))
		}
		return map[string]any{"repositories": repos}, nil
	case "PutLifecyclePolicy":
		return s.update(in, func(r *Repository) { r.LifecyclePolicy = str(in["lifecyclePolicyText"]) },
			map[string]any{"lifecyclePolicyText": in["lifecyclePolicyText"]})
	case "SetRepositoryPolicy":
		return s.update(in, func(r *Repository) { r.Policy = str(in["policyText"]) },
			map[string]any{"policyText": in["policyText"]})
	case "TagResource":
		name := str(in["resourceArn"])
		name = name[strings.Index(name, ":repository/")+len(":repository/"):]
		return s.update(map[string]any{"repositoryName": name}, func(r *Repository) {
			for k, v := range tags(in["tags"]) {
				r.Tags[k] = v
			}
		}, map[string]any{})
	}
	return nil, &apiError{http.StatusBadRequest, "UnknownOperationException", "the stand-in does not answer " + op}
}

func (s *Server) create(in map[string]any) (any, *apiError) {
	name := str(in["repositoryName"])
	r := &Repository{Name: name, ImageTagMutability: str(in["imageTagMutability"]), Tags: tags(in["tags"])}
	if r.ImageTagMutability == "" {
		r.ImageTagMutability = "MUTABLE"
	}
	if scan, ok := in["imageScanningConfiguration"].(map[string]any); ok {
		r.ScanOnPush, _ = scan["scanOnPush"].(bool)
	}
	r.EncryptionType = "AES256"
	if enc, ok := in["encryptionConfiguration"].(map[string]any); ok {
		r.EncryptionType, r.KMSKey = str(enc["encryptionType"]), str(enc["kmsKey"])
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.repos[name]; ok {
		return nil, &apiError{http.StatusBadRequest, "RepositoryAlreadyExistsException",
			fmt.Sprintf("The repository with name '%s' already exists in the registry with id '%s'", name, s.o.Account)}
	}
	s.repos[name] = r
	return map[string]any{"repository": s.describe(r)}, nil
}

func (s *Server) lookup(name string) (*Repository, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.repos[name]
	if !ok {
		return nil, &apiError{http.StatusBadRequest, "RepositoryNotFoundException",
			fmt.Sprintf("The repository with name '%s' does not exist in the registry with id '%s'", name, s.o.Account)}
	}
	return r, nil
}

// update changes an existing repository and answers out, with the
// repository's name and registry.
func (s *Server) update(in map[string]any, change func(*Repository), out map[string]any) (any, *apiError) {
	r, err := s.lookup(str(in["repositoryName"]))
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	change(r)
	s.mu.Unlock()
	if len(out) > 0 {
		out["repositoryName"], out["registryId"] = r.Name, s.o.Account
	}
	return out, nil
}

func (s *Server) describe(r *Repository) map[string]any {
	suffix := ""
	if strings.HasPrefix(s.o.Region, "cn-") {
		suffix = "-cn"
	}
	return map[string]any{
		"repositoryArn":              fmt.Sprintf("arn:aws%s:ecr:%s:%s:repository/%s", suffix, s.o.Region, s.o.Account, r.Name),
		"registryId":                 s.o.Account,
		"repositoryName":             r.Name,
		"repositoryUri":              strings.TrimPrefix(s.ProxyEndpoint(), "https://") + "/" + r.Name,
		"createdAt":                  float64(time.Now().Unix()),
		"imageTagMutability":         r.ImageTagMutability,
		"imageScanningConfiguration": map[string]any{"scanOnPush": r.ScanOnPush},
		"encryptionConfiguration":    map[string]any{"encryptionType": r.EncryptionType},
	}
}

func writeAPI(w http.ResponseWriter, out any, err *apiError) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	if err != nil {
		w.Header().Set("X-Amzn-ErrorType", err.typ)
		w.WriteHeader(err.status)
		json.NewEncoder(w).Encode(map[string]string{"__type": err.typ, "message": err.message})
		return
	}
	json.NewEncoder(w).Encode(out)
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func names(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, e := range l {
		out = append(out, str(e))
	}
	return out
}

// tags reads ECR's [{"Key": ..., "Value": ...}].
func tags(v any) map[string]string {
	out := map[string]string{}
	l, _ := v.([]any)
	for _, e := range l {
		if m, ok := e.(map[string]any); ok {
			out[str(m["Key"])] = str(m["Value"])
		}
	}
	return out
}
