// Package mapping turns the records of a channel system (a till's receipt
// export, a help desk's, email service's or survey tool's webhook) into
// event envelopes, by a mapping declared in YAML instead of code. The
// built-in mappings are schemas/mappings/*.yaml; a site adds or replaces
// mappings with the *.yaml files of collector.mappings_dir (see Load). The
// collector serves each mapping as POST /v1/channels/{name}, and `cxstream
// import -mapping name` reads files with it. docs/channels.md is the guide.
//
// A mapping file has these keys (unknown keys are errors):
//
//   - name: how the mapping is addressed, ^[a-z][a-z0-9_-]{0,63}$
//   - description: one line, shown by `cxstream mappings`
//   - channel: the envelope channel of every event it makes
//   - records: JSON input only, the dot path of the array of records in a
//     body that wraps them ("payload.items"); empty: the body is one record
//     or an array of records
//   - skip: conditions (as in when, all of which must hold) under which a
//     record is left out on purpose and counted as skipped
//   - csv_delimiter: "," (the default), ";", "|" or a tab
//   - events: the rules, at least one
//
// Every rule whose when holds makes one event of the record; a record that
// no rule takes is an error naming the fields the rules look at. A record
// is taken whole or rejected whole: one bad value rejects all its events.
// A rule has these keys:
//
//   - when: conditions on fields, all of which must hold; none: always
//   - type: track (the default), identify, page, screen, alias or group
//   - name: a text; required for track
//   - event_id: a text; left out, the id is derived (below)
//   - time: the event time, read as a time; left out, the receive time
//   - identifiers: a list of {type: TEXT, ...value}; the type is a text
//     and the value's long-form keys sit beside it:
//     {type: email, field: customer.email, transform: [trim]}
//   - traits, traits_set_once, traits_increment: maps of trait names to
//     values; incremented traits are top-level (no dots) and numbers
//     (as: number unless as: integer is given)
//   - traits_unset: a list of trait names to remove
//   - properties, context: maps of keys to values
//
// Keys of traits, traits_set_once, properties and context with dots make
// nested objects ("address.city"). A value that is missing is left out of
// its object; an identifier whose value is missing is left out, and an
// event left with no identifier is an error. An event_id or time that is
// missing, without a default, is an error.
//
// A value written as a scalar is a shorthand. A string is a field path
// where a value is expected (time, traits, properties, context) and a
// template where a text is expected (name,
// event_id, an identifier's type): "Ticket {status}", with {{ and }} for
// braces; a template without fields is a constant. A number or boolean is
// that literal. A constant text in a value slot is written {value: text}.
// The long form is a map of these keys:
//
//   - field: a dot path; items.0.sku indexes an array, "." is the whole
//     record, and a key holding dots ("odd.key") is found too
//   - value: a constant (any YAML value, objects too)
//   - template: a text with {path} replaced by each field's text; when a
//     field it names is missing, default stands in, or the record is
//     rejected naming the field
//   - map: {text: value}; the value's text is replaced by what it maps to;
//     a text not in the map takes default, or is an error
//   - default: the value when it is missing: absent, null or blank text
//   - required: true makes a missing value without default an error
//   - as: string, number, integer, boolean, time or json (as it is, the
//     default); numbers stay exactly as written, from JSON numbers or
//     texts ("12.50"); integer takes 3.0 as 3; booleans read true, false,
//     yes, no, y, n, 1 and 0
//   - layout: for as: time and time: rfc3339 (the default), unix,
//     unix_ms, or a Go layout such as "2006-01-02 15:04:05"
//   - zone: the IANA zone of a Go layout without an offset; UTC by default
//   - minor_units: with as: number, an integer amount in minor units
//     (cents: 2), made a decimal exactly: 1999 is 19.99
//   - min, max: bounds of as: number or integer; a value outside is an error
//   - transform: text transformations in order (a number becomes a text):
//     trim, lower, upper, strip_at (drops a leading "@"), digits (keeps
//     digits and a leading "+")
//
// A value is made in this order: the field, constant or template; then,
// when present, transform and map; when missing, default (or, if
// required, an error); then as, with minor_units, min and max. A value
// that transform makes blank is missing.
//
// A condition's key is a field path. A scalar holds when the field's text
// equals it, a list when the text equals one of its items; {exists: true}
// when the field is present and neither null nor blank, {exists: false}
// when it is not; {not: scalar or list} when the text equals none (a
// missing field too). Numbers compare as written, booleans as true and
// false; an object or array satisfies only exists: true.
//
// Mapping.Read reads JSON (a record, an array of records, or the array at
// the records path), NDJSON (one object a line; blank lines are ignored)
// and CSV (a header row naming the fields: a name with dots makes nested
// fields, a leading byte order mark is dropped, an empty cell is a missing
// field, and every value is a text: use as to convert). A record that
// cannot be read (a bad line, a row of the wrong width, one larger than
// the limit, invalid UTF-8) is an error of its own; an input that cannot
// be read as a whole is an *InputError.
//
// A rule without event_id gets a UUID derived from the mapping's name, the
// rule's index and the record's content (not its formatting), so that a
// record sent or imported again is the same event and is deduplicated.
// Renaming the mapping or reordering its rules changes these ids.
//
// Errors are event.Errors that name the record's field and, in
// parentheses, the envelope field it was for:
//
//	total: "1,5" is not a number (write it like 12.50) (for properties.revenue)
//
// Map's events are not yet validated: Mapped.Prepare applies the
// envelope's validation (event.Prepare: identifier normalisation, lengths,
// the time window) and names the record's fields in its errors where it
// can (event_id, time, name, identifiers, traits_increment). Compile
// errors name the setting (events[1].properties.revenue.as).
package mapping
