// Package api is the Profile API: look a customer up by any identifier or
// profile id (from Redis), read their cross-channel timeline and the identity
// history that explains their identifiers (from ClickHouse). Requests
// authenticate with a bearer token that belongs to one tenant; a token never
// reads another tenant's data.
package api

import (
	"errors"
	"fmt"

	"github.com/cxstream/cxstream/pipeline/internal/limit"
)

// Config configures the Profile API.
type Config struct {
	// Addr is the listen address (CXSTREAM_API_ADDR).
	Addr string `yaml:"addr"`
	// Tokens are the accepted bearer tokens.
	Tokens []Token `yaml:"tokens"`
	// RateLimit bounds the requests per second of each token (per API
	// process); past it requests get 429 with Retry-After.
	RateLimit limit.Rate `yaml:"rate_limit"`
}

// Token is a bearer token and the tenant it reads. A token has the read
// scope (profiles, timelines, identity, exports); Admin adds the admin
// scope: changing the identity graph (unmerge) and erasing people (forget).
type Token struct {
	Token  string `yaml:"token"`
	Tenant string `yaml:"tenant"`
	Admin  bool   `yaml:"admin"`
}

// Default listens on :8081 with no tokens (every request is refused until
// tokens are configured).
func Default() Config { return Config{Addr: ":8081"} }

// Validate checks the configuration.
func (c Config) Validate() error {
	var errs []error
	seen := map[string]bool{}
	for i, t := range c.Tokens {
		switch {
		case len(t.Token) < 16:
			errs = append(errs, fmt.Errorf("api.tokens[%d].token: must be at least 16 characters", i))
		case seen[t.Token]:
			errs = append(errs, fmt.Errorf("api.tokens[%d].token: duplicate token", i))
		}
		seen[t.Token] = true
		if t.Tenant == "" {
			errs = append(errs, fmt.Errorf("api.tokens[%d].tenant: required", i))
		}
	}
	if c.Addr == "" {
		errs = append(errs, errors.New("api.addr: required, e.g. :8081"))
	}
	if err := c.RateLimit.Validate("api.rate_limit"); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
