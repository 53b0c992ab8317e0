package chstore

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/identity"
)

// DateTime holds whole seconds from 1970 to 2105 (a UInt32); times outside
// cannot be stored.
var (
	minTime = time.Unix(0, 0)
	maxTime = time.Unix(1<<32-1, 0)
)

// CheckEvent reports why r cannot be stored in cx_events, or nil. InsertEvents
// rejects a batch holding such an event; a consumer checks each message first
// and dead-letters the ones that fail, so that one bad message cannot block a
// batch forever. The errors name fields, never values.
func CheckEvent(r event.Resolved) error {
	if r.Event == nil {
		return errors.New("event: missing (no envelope fields)")
	}
	var errs []error
	if r.Tenant == "" {
		errs = append(errs, errors.New("tenant: required"))
	}
	if r.EventID == "" {
		errs = append(errs, errors.New("event_id: required"))
	}
	if r.ProfileID == "" {
		errs = append(errs, errors.New("profile_id: required"))
	}
	if err := checkTime("event_time", r.EventTime); err != nil {
		errs = append(errs, err)
	}
	if !r.ReceivedAt.IsZero() {
		if err := checkTime("received_at", r.ReceivedAt); err != nil {
			errs = append(errs, err)
		}
	}
	return joinErrors(errs)
}

// CheckRecord reports why rec cannot be stored in cx_identity, or nil.
//
// profile_id is required except for the kinds that may concern no profile:
// identifier_unlinked (the identifier is in none; from_profile_id names the
// one it left) and merge_blocked (the identifier dropped by a rule may belong
// to no profile when a component is re-derived). Kinds this version does not
// know are stored as they are.
func CheckRecord(rec identity.Record) error {
	var errs []error
	if rec.Tenant == "" {
		errs = append(errs, errors.New("tenant: required"))
	}
	if rec.Kind == "" {
		errs = append(errs, errors.New("kind: required"))
	}
	if rec.ProfileID == "" && rec.Kind != identity.KindUnlinked && rec.Kind != identity.KindBlocked {
		errs = append(errs, errors.New("profile_id: required"))
	}
	if err := checkTime("at", rec.At); err != nil {
		errs = append(errs, err)
	}
	if rec.Version < 0 {
		errs = append(errs, fmt.Errorf("version: %d is negative", rec.Version))
	}
	return joinErrors(errs)
}

func checkTime(field string, t time.Time) error {
	if t.IsZero() {
		return fmt.Errorf("%s: required", field)
	}
	if t.Before(minTime) || t.After(maxTime) {
		return fmt.Errorf("%s: must lie between 1970 and 2105", field)
	}
	return nil
}

// joinErrors joins on one line ("; "): the text ends up in a dead letter's
// cx-error header and in log lines.
func joinErrors(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	msgs := make([]string, len(errs))
	for i, err := range errs {
		msgs[i] = err.Error()
	}
	return errors.New(strings.Join(msgs, "; "))
}
