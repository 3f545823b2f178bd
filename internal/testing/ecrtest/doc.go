// Package ecrtest is a stand-in for Amazon ECR, for kmirror's tests: ECR's
// control plane cannot run outside AWS, so the tests run this in front of
// a real CNCF distribution registry.
//
// It has two listeners on 127.0.0.1, both TLS:
//
//   - the API, speaking ECR's protocol (AWS JSON 1.1, POST / with
//     X-Amz-Target: AmazonEC2ContainerRegistry_V20150921.<Operation>),
//     which the AWS SDK reaches through AWS_ENDPOINT_URL_ECR or an
//     endpoint override. It answers GetAuthorizationToken,
//     CreateRepository, DescribeRepositories, PutLifecyclePolicy,
//     SetRepositoryPolicy and TagResource, with ECR's typed errors
//     (RepositoryAlreadyExistsException, RepositoryNotFoundException), and
//     records every call with the region of its signature;
//   - the registry, which does what ECR's does before it passes a request
//     on to the distribution registry: basic auth as user AWS with a
//     token the API issued and that has not expired (403 DENIED when it
//     has, as ECR answers), and NAME_UNKNOWN with ECR's message for a
//     repository that was not created.
//
// Tokens live for Options.TokenTTL, so a test sees a refresh in seconds.
package ecrtest
