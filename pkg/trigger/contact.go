package trigger

import (
	"slices"
	"strings"

	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/identity"
	"github.com/cxstream/cxstream/pkg/profile"
)

// Contact is how to reach the customer a trigger is about, from the
// profile: its demographic name, email, phone and locale (email and phone
// fall back to the identifiers there), its user id and its social handles.
// Empty fields are left out.
type Contact struct {
	Name   string `json:"name,omitempty"`
	Email  string `json:"email,omitempty"`
	Phone  string `json:"phone,omitempty"`
	UserID string `json:"user_id,omitempty"`
	Locale string `json:"locale,omitempty"`
	// Social lists the social identifiers by type (x_handle,
	// instagram_handle, tiktok_handle, facebook_id, linkedin_id, as the
	// social mapping types them; any type ending in _handle), sorted.
	Social map[string][]string `json:"social,omitempty"`
}

// ContactOf returns the contact details of p.
func ContactOf(p *profile.Profile) Contact {
	if p == nil {
		return Contact{}
	}
	d := p.Demographic
	c := Contact{Name: d.Name, Email: d.Email, Phone: d.Phone, Locale: d.Locale}
	// Values stored hashed (identity rules, hash: true) are left out: a
	// hash reaches no one.
	if ids := p.Identifiers[event.IDUserID]; len(ids) > 0 && !identity.IsHashed(ids[0]) {
		c.UserID = ids[0] // user_id is unique under the identity rules
	}
	for typ, values := range p.Identifiers {
		if !social(typ) {
			continue
		}
		values = slices.DeleteFunc(slices.Clone(values), identity.IsHashed)
		if len(values) == 0 {
			continue
		}
		if c.Social == nil {
			c.Social = map[string][]string{}
		}
		c.Social[typ] = slices.Sorted(slices.Values(values))
	}
	return c
}

// social reports whether an identifier type is a social account.
func social(typ string) bool {
	return strings.HasSuffix(typ, "_handle") || typ == "facebook_id" || typ == "linkedin_id"
}
