// Package segment evaluates declarative customer segments against rendered
// profiles (profile.Profile). Segments are written in YAML, compiled once
// (Compile, Parse) and evaluated on every profile change (Set.Evaluate);
// docs/segments.md is the user's reference.
//
//	segments:
//	  - name: vip_at_risk        # [a-z0-9_]{1,64}, unique
//	    description: High-value customers drifting away
//	    purpose: marketing       # consent purpose acting on it needs; optional
//	    when:
//	      all:
//	        - {field: derived.lifecycle, eq: at_risk}
//	        - {field: transactional.lifetime_value_reporting, gt: 500}
//
// A condition is a combinator (all: [...], any: [...], not: {...}) or a
// field and exactly one operator:
//
//   - eq, ne, in (a list): equality with a number, text or boolean; a text
//     in RFC 3339 equals a time at the same instant
//   - gt, gte, lt, lte: order against a number, or an RFC 3339 time
//   - exists: true or false
//   - contains: an array field has an element equal to the value
//   - within, older_than: a duration (720h, 30d, 1d12h); the field is a
//     time t, and within holds when t <= now < t+d, older_than when
//     now >= t+d
//
// A field is a dotted path into the profile's JSON form, checked when
// compiled by reflection on profile.Profile's json tags; map-valued fields
// take any key (behavioral.channels.store, psychographic.consent.marketing,
// transactional.revenue.EUR), traits and preferences any path inside their
// JSON values (traits.address.city, traits.items.0.sku). Operators that
// cannot apply to a field's type (gt on a text, within on a number, eq on
// an array) are compile errors, as are unknown fields; each *Error names
// the segment, the condition (when.all[1]) and the field.
//
// A field is missing when the JSON form omits it or has null there. Every
// operator is false on a missing field but exists: false, so not inverts
// that: not {field: x, gt: 5} holds when x is missing. ne holds when the
// field is present and not equal.
//
// Evaluation reads fields through accessors compiled once (field indices,
// no lookups by name), reads traits and preferences in their JSON bytes,
// and allocates only the result (and texts with JSON escapes). Evaluate
// also reports the next instant at which the passing of time alone changes
// a membership, so that the caller can evaluate again then.
package segment
