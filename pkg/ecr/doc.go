// Package ecr makes Amazon ECR a mirror kmirror fills and checks with no
// hand steps: no docker login, no repository made beforehand.
//
//   - Which registries are ECR: a host in ECR's private form,
//     <account>.dkr.ecr[-fips].<region>.amazonaws.com (.amazonaws.com.cn
//     in the China partition, and AWS's other partitions), recognised by
//     the pattern of amazon-ecr-credential-helper's ecr-login; and any
//     other host named in Options.Hosts (a VPC endpoint, a test), whose
//     region comes from Options.Region or the AWS config and whose
//     account is the caller's own.
//   - Credentials: the AWS SDK's default chain (environment, shared config
//     and profiles, web identity as IRSA gives it, EKS Pod Identity, the
//     instance role). The registry token comes from GetAuthorizationToken
//     and is fetched again once half its life is gone, so a webhook that
//     runs for weeks or a sync that runs for hours never sends an expired
//     one. [Client] is an authn.Keychain; package registry consults it
//     after the Docker config, which wins where both have credentials.
//   - Repositories: [Client.CreateRepository] makes a repository exist
//     before the first write to it, once per repository per Client,
//     with the [Settings] of a file (tag mutability, scan on push,
//     encryption, tags, lifecycle and repository policies). A repository
//     another process created first is no error.
//   - IAM: [Policy] is the least an identity needs, for the rules in use.
//
// The token is fetched with the SDK's ECR client rather than through
// ecr-login's: that one keeps its tokens in a file under ~/.ecr, read on
// every request and not writable in the webhook's read-only root, and
// does not say when a token expires, so a cache in front of it could not
// know when to refresh.
package ecr
