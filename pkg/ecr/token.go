package ecr

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/google/go-containerregistry/pkg/authn"
	"golang.org/x/sync/singleflight"
)

// tokenTimeout bounds a GetAuthorizationToken call, which the requests
// waiting for the token share: it does not end with the context of the
// request that started it.
const tokenTimeout = 30 * time.Second

// defaultTokenLife is how long ECR's tokens live, for an answer that does
// not say.
const defaultTokenLife = 12 * time.Hour

var _ authn.ContextKeychain = (*Client)(nil)

// Resolve is ResolveContext without a context.
func (c *Client) Resolve(target authn.Resource) (authn.Authenticator, error) {
	return c.ResolveContext(context.Background(), target)
}

// ResolveContext returns the token source of an ECR registry, with a token
// fetched already, so that missing AWS credentials show at once; for any
// other registry, authn.Anonymous, so that a keychain after it is asked.
func (c *Client) ResolveContext(ctx context.Context, target authn.Resource) (authn.Authenticator, error) {
	reg, ok := c.Lookup(target.RegistryStr())
	if !ok {
		return authn.Anonymous, nil
	}
	c.mu.Lock()
	t, ok := c.tokens[reg]
	if !ok {
		t = &token{c: c, reg: reg, now: time.Now}
		c.tokens[reg] = t
	}
	c.mu.Unlock()
	if _, err := t.current(ctx); err != nil {
		return nil, err
	}
	return t, nil
}

// token is the registry token of one ECR registry. go-containerregistry
// asks an Authenticator for each request, so every request carries a
// token that is current, however long the transport that sends it lives.
type token struct {
	c   *Client
	reg Registry
	now func() time.Time

	mu    sync.Mutex
	value *tokenValue
	fetch singleflight.Group
}

type tokenValue struct {
	user, password string
	// refresh is when half the token's life is gone; expires when it ends.
	refresh, expires time.Time
}

// Authorization is AuthorizationContext without a context.
func (t *token) Authorization() (*authn.AuthConfig, error) {
	return t.AuthorizationContext(context.Background())
}

// AuthorizationContext returns the current token, fetching a new one once
// half the life of the last is gone.
func (t *token) AuthorizationContext(ctx context.Context) (*authn.AuthConfig, error) {
	v, err := t.current(ctx)
	if err != nil {
		return nil, err
	}
	return &authn.AuthConfig{Username: v.user, Password: v.password}, nil
}

func (t *token) current(ctx context.Context) (*tokenValue, error) {
	now := t.now()
	t.mu.Lock()
	v := t.value
	t.mu.Unlock()
	if v != nil && now.Before(v.refresh) {
		return v, nil
	}
	// The call is shared, and outlives a caller that stops waiting: the
	// webhook's checks have a second each.
	ch := t.fetch.DoChan("", func() (any, error) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), tokenTimeout)
		defer cancel()
		nv, err := t.get(fctx)
		if err == nil {
			t.mu.Lock()
			t.value = nv
			t.mu.Unlock()
		}
		return nv, err
	})
	var got any
	var err error
	select {
	case r := <-ch:
		got, err = r.Val, r.Err
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		// A token that has not expired yet still serves while ECR's API
		// does not answer.
		if v != nil && now.Before(v.expires) {
			return v, nil
		}
		return nil, err
	}
	return got.(*tokenValue), nil
}

// get calls GetAuthorizationToken.
func (t *token) get(ctx context.Context) (*tokenValue, error) {
	api, reg, err := t.c.api(t.reg)
	if err != nil {
		return nil, err
	}
	in := &ecr.GetAuthorizationTokenInput{}
	if reg.Account != "" {
		in.RegistryIds = []string{reg.Account}
	}
	start := t.now()
	out, err := api.GetAuthorizationToken(ctx, in)
	if err == nil && (len(out.AuthorizationData) == 0 || out.AuthorizationData[0].AuthorizationToken == nil) {
		err = errors.New("the answer holds no token")
	}
	if err != nil {
		return nil, fmt.Errorf("getting a token for the Amazon ECR registry %s (GetAuthorizationToken in %s): %w; "+
			"give AWS credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID, IRSA, EKS Pod Identity, an instance role) or log in with docker login",
			reg.Host, reg.Region, err)
	}
	data := out.AuthorizationData[0]
	raw, err := base64.StdEncoding.DecodeString(aws.ToString(data.AuthorizationToken))
	user, password, ok := strings.Cut(string(raw), ":")
	if err != nil || !ok {
		return nil, fmt.Errorf("getting a token for the Amazon ECR registry %s: the token is not base64 user:password", reg.Host)
	}
	expires := aws.ToTime(data.ExpiresAt)
	if expires.IsZero() {
		expires = start.Add(defaultTokenLife)
	}
	return &tokenValue{user: user, password: password, refresh: start.Add(expires.Sub(start) / 2), expires: expires}, nil
}
