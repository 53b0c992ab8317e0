package identity

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/cxstream/cxstream/pkg/event"
)

// Identifier hashing at rest. A type whose rule says hash: true is stored
// everywhere after the resolver (the Redis graph and index, cx.timeline,
// cx.identity, cx.profiles, every ClickHouse table) as a keyed hash of its
// normalised value instead of the value:
//
//	hmac-sha256:<43 characters of unpadded base64url>
//
// of HMAC-SHA-256 under the deployment's key (CXSTREAM_IDENTITY_HASH_KEY)
// over tenant, type and value. Equal values of one tenant hash alike, so
// resolution joins exactly whom it joins without hashing; the tenant in the
// input keeps two tenants' hashes of one email apart, and the key keeps
// anyone without it from testing guesses (a bare SHA-256 of an email or a
// phone number is reversed by trying them all).
//
// Blocked values are left as they are: they identify nobody, and the
// resolver and a rebuild recognise them only unhashed.
//
// The resolver pseudonymises whole events (PseudonymizeEvent): besides the
// identifiers, every string in the traits, properties and context that is
// one of the event's hashed identifiers (compared normalised: a Segment
// identify's traits.email, context.traits.phone, context.externalIds) is
// replaced by the same hash. Personal data in other fields (a name, an
// address, an email that is not one of the event's identifiers) is stored
// as sent.

// HashPrefix starts every hashed identifier value.
const HashPrefix = "hmac-sha256:"

// HashKeyEnv is the environment variable that holds the hashing key.
const HashKeyEnv = "CXSTREAM_IDENTITY_HASH_KEY"

// MinHashKeyLen is the shortest key accepted, in bytes.
const MinHashKeyLen = 32

var hashLen = len(HashPrefix) + base64.RawURLEncoding.EncodedLen(sha256.Size)

// IsHashed reports whether value has the form of a hashed identifier value.
func IsHashed(value string) bool {
	if len(value) != hashLen || value[:len(HashPrefix)] != HashPrefix {
		return false
	}
	for _, c := range []byte(value[len(HashPrefix):]) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// Hashes reports whether identifiers of type typ are stored hashed.
func (p *Policy) Hashes(typ string) bool { return p.types[typ].hash }

// HashesAny reports whether any type is stored hashed.
func (p *Policy) HashesAny() bool { return len(p.hashKey) > 0 }

// hashValue is the stored form of a normalised value of type typ.
func (p *Policy) hashValue(tenant, typ, value string) string {
	m := hmac.New(sha256.New, p.hashKey)
	// Lengths first, so that no two (tenant, type, value) triples run
	// together into the same input.
	fmt.Fprintf(m, "%d:%s%d:%s", len(tenant), tenant, len(typ), typ)
	m.Write([]byte(value))
	return HashPrefix + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// hashable reports whether a normalised identifier is stored as its hash:
// its type is hashed, it is not hashed already, and it is not blocked.
func (p *Policy) hashable(id event.Identifier) bool {
	return p.Hashes(id.Type) && !IsHashed(id.Value) && !p.Blocked(id)
}

// Pseudonymize replaces, in place, the values of ids (normalised, of one
// event of tenant) whose type is hashed with their hashes, leaving blocked
// values and values already hashed as they are. Without hashed types it
// does nothing.
func (p *Policy) Pseudonymize(tenant string, ids []event.Identifier) {
	if !p.HashesAny() {
		return
	}
	for i, id := range ids {
		if p.hashable(id) {
			ids[i].Value = p.hashValue(tenant, id.Type, id.Value)
		}
	}
}

// Canonical returns the identifier as it is stored: normalised, and hashed
// when its type is. A value of a hashed type that is already hashed (copied
// from a profile, the log or ClickHouse) is returned as it is. Look-ups by
// identifier (the Profile API, forget, export, unmerge) and rebuilds from
// the log go through it.
func (p *Policy) Canonical(tenant string, id event.Identifier) (event.Identifier, error) {
	if p.Hashes(id.Type) && IsHashed(id.Value) {
		return id, nil
	}
	v, err := p.Normalize(id.Type, id.Value)
	if err != nil {
		return id, err
	}
	id.Value = v
	if p.hashable(id) {
		id.Value = p.hashValue(tenant, id.Type, v)
	}
	return id, nil
}

// PseudonymizeEvent pseudonymises a prepared event in place: its
// identifiers (Pseudonymize), and every string in its traits, set-once
// traits, properties and context that normalises, under a hashed type, to
// one of the event's identifiers of that type. JSON it rewrites keeps its
// numbers exactly (json.Number); object keys come out sorted.
func (p *Policy) PseudonymizeEvent(e *event.Event) {
	if !p.HashesAny() {
		return
	}
	// raw value -> hash, per hashed type, of the event's identifiers.
	hashes := map[event.Identifier]string{}
	for _, id := range e.Identifiers {
		if p.hashable(id) {
			hashes[id] = p.hashValue(e.Tenant, id.Type, id.Value)
		}
	}
	if len(hashes) == 0 {
		return
	}
	for i, id := range e.Identifiers {
		if h, ok := hashes[id]; ok {
			e.Identifiers[i].Value = h
		}
	}
	types := map[string]bool{}
	for id := range hashes {
		types[id.Type] = true
	}
	replace := func(v string) (string, bool) {
		for typ := range types {
			n, err := p.Normalize(typ, v)
			if err != nil {
				continue
			}
			if h, ok := hashes[event.Identifier{Type: typ, Value: n}]; ok {
				return h, true
			}
		}
		return v, false
	}
	for _, m := range []map[string]json.RawMessage{e.Traits, e.TraitsSetOnce} {
		for k, raw := range m {
			if out, ok := scrubJSON(raw, replace); ok {
				m[k] = out
			}
		}
	}
	if out, ok := scrubJSON(e.Properties, replace); ok {
		e.Properties = out
	}
	if out, ok := scrubJSON(e.Context, replace); ok {
		e.Context = out
	}
}

// scrubJSON replaces the strings of raw for which replace says so, and
// returns the rewritten JSON when any was. raw that does not parse (it was
// validated before; this does not happen) is left as it is.
func scrubJSON(raw json.RawMessage, replace func(string) (string, bool)) (json.RawMessage, bool) {
	if len(raw) == 0 || !bytes.ContainsRune(raw, '"') {
		return raw, false
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return raw, false
	}
	v, changed := scrubValue(v, replace)
	if !changed {
		return raw, false
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if enc.Encode(v) != nil {
		return raw, false
	}
	return json.RawMessage(bytes.TrimRight(b.Bytes(), "\n")), true
}

func scrubValue(v any, replace func(string) (string, bool)) (any, bool) {
	changed := false
	switch x := v.(type) {
	case string:
		return replace(x)
	case []any:
		for i, e := range x {
			var c bool
			if x[i], c = scrubValue(e, replace); c {
				changed = true
			}
		}
	case map[string]any:
		for k, e := range x {
			var c bool
			if x[k], c = scrubValue(e, replace); c {
				changed = true
			}
		}
	}
	return v, changed
}
