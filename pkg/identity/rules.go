// Package identity holds the identity rules (which identifier types exist,
// how each is normalised, how strongly it identifies a person, how many of
// them a profile may hold and which values are junk) and the records of the
// identity log that cx.identity carries.
//
// Resolution itself runs atomically in Redis (pkg/redisstore); its semantics
// are specified in docs/ARCHITECTURE.md ("Identity rules", "Identity
// resolution in Redis") and checked against the simple reference in
// pkg/identity/identitytest.
package identity

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/google/uuid"

	"github.com/cxstream/cxstream/pkg/event"
)

// TypeRule is the rule for one identifier type.
type TypeRule struct {
	// Priority orders identifier types from strongest (highest) to weakest.
	// The strongest identifier of an event keys it on cx.interactions and
	// anchors it (it always joins the event's profile); weaker identifiers
	// are the first to be dropped when a merge would break a limit.
	Priority int `yaml:"priority" json:"priority"`
	// Limit is the most distinct values of this type one profile may hold
	// (0: Rules.DefaultLimit). A merge or link that would exceed it is not
	// made.
	Limit int `yaml:"limit" json:"limit,omitempty"`
	// Unique marks a type a profile holds at most one value of, ever: two
	// profiles with different values never join (Limit 1, as Snowplow's and
	// mParticle's unique identifiers).
	Unique bool `yaml:"unique" json:"unique,omitempty"`
	// Normalize is email, phone, lower or trim (see event.NormalizeAs).
	// Empty: email for the type "email", phone for "phone", trim for the
	// rest.
	Normalize string `yaml:"normalize" json:"normalize,omitempty"`
	// Blocked are values of this type that identify nobody (after
	// normalisation, compared exactly), in addition to Rules.Blocked.
	Blocked []string `yaml:"blocked" json:"blocked,omitempty"`
	// BlockedPatterns are regular expressions (RE2, matched against the
	// whole normalised value) of values that identify nobody.
	BlockedPatterns []string `yaml:"blocked_patterns" json:"blocked_patterns,omitempty"`
	// Hash stores values of this type as keyed hashes (HMAC-SHA-256 under
	// Rules.HashKey) instead of the values, everywhere after the resolver:
	// see Policy.Canonical and docs/privacy.md. It is fixed for the life of
	// a deployment's data.
	Hash bool `yaml:"hash" json:"hash,omitempty"`
}

// Rules are the identity rules of a deployment.
type Rules struct {
	// Types maps identifier type to its rule; types not listed get
	// DefaultPriority, DefaultLimit, trim normalisation and the global
	// blocked values. A new identifier type needs no rule at all.
	Types           map[string]TypeRule `yaml:"types" json:"types"`
	DefaultPriority int                 `yaml:"default_priority" json:"default_priority"`
	DefaultLimit    int                 `yaml:"default_limit" json:"default_limit"`
	// MaxIdentifiers is the hard cap on identifiers per profile, all types
	// together (Segment's is 1,000).
	MaxIdentifiers int `yaml:"max_identifiers_per_profile" json:"max_identifiers_per_profile"`
	// Blocked are values blocked for every type, compared case-insensitively
	// ("undefined", "null", ...). BlockedPatterns likewise, as regular
	// expressions matched against the whole value.
	Blocked         []string `yaml:"blocked" json:"blocked"`
	BlockedPatterns []string `yaml:"blocked_patterns" json:"blocked_patterns"`
	// HashKey is the secret of the types with Hash, at least MinHashKeyLen
	// bytes. It is never read from a file nor written anywhere: the
	// configuration takes it from CXSTREAM_IDENTITY_HASH_KEY.
	HashKey string `yaml:"-" json:"-"`
}

// DefaultBlocked are the values no real identifier has: what broken SDKs,
// templates and test scripts send. Compared case-insensitively for every
// type.
var DefaultBlocked = []string{
	"undefined", "null", "nil", "none", "nan", "n/a", "na", "unknown", "anonymous",
	"guest", "test", "true", "false", "0", "-1", "[object object]", "{}", "[]",
}

// DefaultBlockedPatterns: values made only of zeros and dashes (the all-zero
// UUID "00000000-0000-0000-0000-000000000000", "0000") and only of
// repeated "x", as Segment suggests.
var DefaultBlockedPatterns = []string{`[0-]+`, `x+`}

// DefaultRules are close to Segment's defaults: user_id is unique and the
// strongest, then email and phone (5 each); anonymous and device ids are
// weak and generous. Common junk values are blocked.
func DefaultRules() Rules {
	return Rules{
		Types: map[string]TypeRule{
			event.IDUserID: {Priority: 100, Unique: true},
			event.IDEmail: {Priority: 90, Limit: 5, Blocked: []string{
				"test@test.com", "test@example.com", "email@example.com", "user@example.com",
				"noreply@example.com", "a@a.com", "asdf@asdf.com",
			}},
			event.IDPhone: {Priority: 80, Limit: 5, BlockedPatterns: []string{
				`\+(?:0+|1+|2+|3+|4+|5+|6+|7+|8+|9+)`, `\+1?234567890?`,
			}},
			"loyalty_id": {Priority: 70, Limit: 5},
			// Social handles, as the social channel mapping types them, are
			// case-insensitive.
			"x_handle":          {Priority: 50, Limit: 5, Normalize: event.NormLower},
			"instagram_handle":  {Priority: 50, Limit: 5, Normalize: event.NormLower},
			"tiktok_handle":     {Priority: 50, Limit: 5, Normalize: event.NormLower},
			event.IDDeviceID:    {Priority: 40, Limit: 50, Normalize: event.NormLower},
			event.IDAnonymousID: {Priority: 30, Limit: 500},
		},
		DefaultPriority: 50,
		DefaultLimit:    5,
		MaxIdentifiers:  1000,
		Blocked:         append([]string(nil), DefaultBlocked...),
		BlockedPatterns: append([]string(nil), DefaultBlockedPatterns...),
	}
}

// Validate checks the rules and says which setting is wrong and why.
func (r Rules) Validate() error {
	_, err := r.Compile()
	return err
}

// Compile checks the rules and prepares them for use.
func (r Rules) Compile() (*Policy, error) {
	var errs []error
	p := &Policy{rules: r, types: map[string]compiledType{}}
	if r.DefaultLimit < 1 {
		errs = append(errs, fmt.Errorf("identity.default_limit: must be >= 1, got %d", r.DefaultLimit))
	}
	if r.MaxIdentifiers < 1 {
		errs = append(errs, fmt.Errorf("identity.max_identifiers_per_profile: must be >= 1, got %d", r.MaxIdentifiers))
	}
	if r.DefaultPriority < 0 {
		errs = append(errs, fmt.Errorf("identity.default_priority: must be >= 0, got %d", r.DefaultPriority))
	}
	p.blocked = map[string]bool{}
	for _, v := range r.Blocked {
		p.blocked[strings.ToLower(strings.TrimSpace(v))] = true
	}
	var err error
	if p.patterns, err = compilePatterns("identity.blocked_patterns", r.BlockedPatterns); err != nil {
		errs = append(errs, err)
	}
	names := make([]string, 0, len(r.Types))
	for typ := range r.Types {
		names = append(names, typ)
	}
	sort.Strings(names)
	for _, typ := range names {
		rule := r.Types[typ]
		field := "identity.types." + typ
		if !event.ValidIdentifierType(typ) {
			errs = append(errs, fmt.Errorf("%s: an identifier type must be lower-case letters, digits and _, starting with a letter", field))
		}
		if rule.Priority < 0 {
			errs = append(errs, fmt.Errorf("%s.priority: must be >= 0, got %d", field, rule.Priority))
		}
		if rule.Limit < 0 {
			errs = append(errs, fmt.Errorf("%s.limit: must be >= 0 (0: default_limit), got %d", field, rule.Limit))
		}
		if rule.Unique && rule.Limit > 1 {
			errs = append(errs, fmt.Errorf("%s: unique means limit 1, but limit is %d", field, rule.Limit))
		}
		ct := compiledType{priority: rule.Priority, limit: rule.Limit, norm: rule.Normalize, blocked: map[string]bool{}, hash: rule.Hash}
		if rule.Hash && len(r.HashKey) < MinHashKeyLen {
			errs = append(errs, fmt.Errorf("%s.hash: needs a key of at least %d bytes in %s (it has %d)", field, MinHashKeyLen, HashKeyEnv, len(r.HashKey)))
		}
		if rule.Hash {
			p.hashKey = []byte(r.HashKey)
		}
		if rule.Unique {
			ct.limit = 1
		}
		if ct.limit == 0 {
			ct.limit = r.DefaultLimit
		}
		if ct.norm == "" {
			ct.norm = event.DefaultNorm(typ)
		}
		switch ct.norm {
		case event.NormEmail, event.NormPhone, event.NormLower, event.NormTrim:
		default:
			errs = append(errs, fmt.Errorf("%s.normalize: must be email, phone, lower or trim, got %q", field, rule.Normalize))
		}
		for _, v := range rule.Blocked {
			if n, err := event.NormalizeAs(ct.norm, v); err == nil {
				ct.blocked[n] = true
			} else {
				ct.blocked[strings.TrimSpace(v)] = true
			}
		}
		if ct.patterns, err = compilePatterns(field+".blocked_patterns", rule.BlockedPatterns); err != nil {
			errs = append(errs, err)
		}
		p.types[typ] = ct
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return p, nil
}

func compilePatterns(field string, pats []string) ([]*regexp.Regexp, error) {
	out := make([]*regexp.Regexp, 0, len(pats))
	for i, pat := range pats {
		// Check pat on its own first: "x)|(y" is no regular expression,
		// but anchored it would compile and match every value starting
		// with x.
		_, err := regexp.Compile(pat)
		var re *regexp.Regexp
		if err == nil {
			re, err = regexp.Compile(`^(?:` + pat + `)$`)
		}
		if err != nil {
			return nil, fmt.Errorf("%s[%d]: %q is not a valid regular expression: %v", field, i, pat, err)
		}
		out = append(out, re)
	}
	return out, nil
}

// namespace is the UUID namespace of cxstream profile ids.
var namespace = uuid.MustParse("6f1c3c8e-2b7a-5d1e-9a43-0c5d2f7e8b10")

// CandidateID is the id of the profile an event creates when none of its
// identifiers is known: a UUID v5 of tenant and event id, so that
// reprocessing the same events yields the same profile ids.
func CandidateID(tenant, eventID string) string {
	return uuid.NewSHA1(namespace, []byte(tenant+"/"+eventID)).String()
}
