package sink

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/cxstream/cxstream/pkg/chstore"
	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/identity"
	"github.com/cxstream/cxstream/pkg/kafkaio"
)

// decodeEvent parses a cx.timeline message and checks that cx_events can
// store it. An error means the message can never be inserted: it goes to the
// dead-letter topic. Error texts name fields, never values.
func decodeEvent(b []byte) (event.Resolved, error) {
	var r event.Resolved
	if err := json.Unmarshal(b, &r); err != nil {
		return event.Resolved{}, fmt.Errorf("decode timeline event: %w", err)
	}
	if err := chstore.CheckEvent(r); err != nil {
		return event.Resolved{}, fmt.Errorf("invalid timeline event: %w", err)
	}
	return r, nil
}

// decodeRecord parses a cx.identity message and checks that cx_identity can
// store it.
func decodeRecord(b []byte) (identity.Record, error) {
	var rec identity.Record
	if err := json.Unmarshal(b, &rec); err != nil {
		return identity.Record{}, fmt.Errorf("decode identity record: %w", err)
	}
	if err := chstore.CheckRecord(rec); err != nil {
		return identity.Record{}, fmt.Errorf("invalid identity record: %w", err)
	}
	return rec, nil
}

// byValue adapts a decoder of message values to the table's decode, which
// takes the whole message.
func byValue[T any](decode func([]byte) (T, error)) func(kafka.Message) (T, error) {
	return func(m kafka.Message) (T, error) { return decode(m.Value) }
}

// profileValue is what the sink reads of a cx.profiles value: a profile
// document, or {"merged_into": id, "version": n} for a merged-away id.
// Pointers tell absent fields from zero ones. Times are strings here and
// parsed by decodeProfile, so that an error names the field.
type profileValue struct {
	ProfileID   *string `json:"profile_id"`
	Tenant      *string `json:"tenant"`
	Version     *int64  `json:"version"`
	AsOf        *string `json:"as_of"`
	MergedInto  *string `json:"merged_into"`
	Demographic struct {
		Email string `json:"email"`
	} `json:"demographic"`
	Behavioral struct {
		FirstSeen *string `json:"first_seen"`
		LastSeen  *string `json:"last_seen"`
		Events    uint64  `json:"events"`
	} `json:"behavioral"`
	Transactional struct {
		Orders                 uint64  `json:"orders"`
		LifetimeValueReporting float64 `json:"lifetime_value_reporting"`
		Currency               string  `json:"currency"`
	} `json:"transactional"`
	Derived struct {
		Lifecycle string `json:"lifecycle"`
	} `json:"derived"`
	Segments []string `json:"segments"`
}

// decodeProfile turns a cx.profiles message into its cx_profile_snapshots
// row. The message is keyed by profile id and carries the tenant and the
// tenant's state version in the cx-tenant and cx-version headers; its value
// is one of:
//
//   - a profile document: a state row whose profile column is the value
//     and whose segments are the document's (none when it has no
//     "segments" or null there);
//   - {"merged_into": id, "version": n}: the id was merged into another;
//   - none (a tombstone; an empty value counts as one): the profile was
//     deleted.
//
// Where the value repeats the key or a header (profile_id, tenant, version),
// it fills in a missing key or header and must agree with a present one.
// as_of comes from the document, else from the message's Kafka timestamp.
// An error names the fields that are missing, malformed or in conflict,
// never their values: the message goes to the dead-letter topic.
func decodeProfile(m kafka.Message) (chstore.Snapshot, error) {
	s := chstore.Snapshot{ProfileID: string(m.Key), AsOf: m.Time, Deleted: len(m.Value) == 0}
	var v profileValue
	if !s.Deleted {
		if bytes.Equal(bytes.TrimSpace(m.Value), []byte("null")) {
			return chstore.Snapshot{}, errors.New("decode profile message: the value is JSON null, neither a profile, a merge nor a tombstone")
		}
		if err := json.Unmarshal(m.Value, &v); err != nil {
			return chstore.Snapshot{}, fmt.Errorf("decode profile message: %w", fieldError(err))
		}
	}
	var errs []string
	fail := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }

	if v.ProfileID != nil && *v.ProfileID != s.ProfileID {
		if s.ProfileID == "" {
			s.ProfileID = *v.ProfileID
		} else {
			fail("profile_id: the message key and the value disagree")
		}
	}
	if s.ProfileID == "" {
		fail("profile_id: required (message key)")
	}

	s.Tenant, _ = headerValue(m, kafkaio.HeaderTenant)
	if v.Tenant != nil && *v.Tenant != s.Tenant {
		if s.Tenant == "" {
			s.Tenant = *v.Tenant
		} else {
			fail("tenant: header %s and the value disagree", kafkaio.HeaderTenant)
		}
	}
	if s.Tenant == "" {
		fail("tenant: required (header %s)", kafkaio.HeaderTenant)
	}

	version, hasVersion, err := versionHeader(m)
	switch {
	case err != nil:
		fail("%s", err)
	case v.Version != nil && *v.Version < 0:
		fail("version: must not be negative (value)")
	case v.Version != nil && !hasVersion:
		version, hasVersion = *v.Version, true
	case v.Version != nil && *v.Version != version:
		fail("version: header %s and the value disagree", kafkaio.HeaderVersion)
	case !hasVersion:
		fail("version: required (header %s)", kafkaio.HeaderVersion)
	}
	s.Version = uint64(version) // checked: not negative

	switch {
	case s.Deleted:
	case v.MergedInto != nil:
		if *v.MergedInto == "" {
			fail("merged_into: must not be empty")
		}
		s.MergedInto = *v.MergedInto
	default:
		if v.ProfileID == nil {
			fail("profile_id: required in a profile document")
		}
		for _, f := range []struct {
			name string
			text *string
			dst  *time.Time
		}{
			{"as_of", v.AsOf, &s.AsOf},
			{"behavioral.first_seen", v.Behavioral.FirstSeen, &s.FirstSeen},
			{"behavioral.last_seen", v.Behavioral.LastSeen, &s.LastSeen},
		} {
			if f.text == nil { // absent or null: as_of keeps the Kafka time
				continue
			}
			t, err := time.Parse(time.RFC3339Nano, *f.text)
			if err != nil {
				fail("%s: must be an RFC 3339 time", f.name)
				continue
			}
			*f.dst = t
		}
		s.Events = v.Behavioral.Events
		s.Orders, s.LifetimeValue = v.Transactional.Orders, v.Transactional.LifetimeValueReporting
		s.Currency = v.Transactional.Currency
		s.Lifecycle, s.Email = v.Derived.Lifecycle, v.Demographic.Email
		s.Segments = v.Segments
		if s.Segments == nil { // absent or null: in no segment
			s.Segments = []string{}
		}
		s.Profile = string(m.Value)
	}
	if len(errs) == 0 {
		if err := chstore.CheckSnapshot(s); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		// One line: the text becomes a dead letter's cx-error header.
		return chstore.Snapshot{}, fmt.Errorf("invalid profile message: %s", strings.Join(errs, "; "))
	}
	return s, nil
}

// fieldError rewrites a JSON type error to name the field, what it got (the
// JSON kind, not the value) and what it needs; other errors are returned as
// they are.
func fieldError(err error) error {
	var te *json.UnmarshalTypeError
	if !errors.As(err, &te) {
		return err
	}
	got, _, _ := strings.Cut(te.Value, " ") // "number -2": the kind only
	if te.Field == "" {
		return fmt.Errorf("the value must be a JSON object, got a JSON %s", got)
	}
	want := te.Type.String()
	switch te.Type.Kind() {
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		want = "a non-negative integer"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		want = "an integer"
	case reflect.Float32, reflect.Float64:
		want = "a number"
	case reflect.String:
		want = "a string"
	case reflect.Struct:
		want = "an object"
	case reflect.Slice:
		want = "an array"
	}
	return fmt.Errorf("%s: must be %s, got a JSON %s", te.Field, want, got)
}

// versionHeader parses the cx-version header; ok is false when it is absent
// or empty.
func versionHeader(m kafka.Message) (version int64, ok bool, err error) {
	text, ok := headerValue(m, kafkaio.HeaderVersion)
	if !ok {
		return 0, false, nil
	}
	version, err = strconv.ParseInt(text, 10, 64)
	if err != nil || version < 0 {
		return 0, false, fmt.Errorf("version: header %s must be a decimal integer between 0 and 2^63-1", kafkaio.HeaderVersion)
	}
	return version, true, nil
}

// headerValue returns the first non-empty value of header key.
func headerValue(m kafka.Message, key string) (string, bool) {
	for _, h := range m.Headers {
		if h.Key == key && len(h.Value) > 0 {
			return string(h.Value), true
		}
	}
	return "", false
}
