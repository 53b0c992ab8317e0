package mapping

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"mime"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/cxstream/cxstream/pkg/event"
)

// Format is how records are written.
type Format string

// The formats records can come in.
const (
	// JSON is one record (an object), an array of records, or an object
	// holding the array at the mapping's records path.
	JSON Format = "json"
	// NDJSON is one JSON object per line (JSON Lines).
	NDJSON Format = "ndjson"
	// CSV has a header row naming the fields; a name with dots makes
	// nested fields ("customer.email"), and an empty cell is a missing
	// field.
	CSV Format = "csv"
)

// ParseFormat reads a format name: json, ndjson (or jsonl) or csv.
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(s) {
	case "json":
		return JSON, nil
	case "ndjson", "jsonl":
		return NDJSON, nil
	case "csv":
		return CSV, nil
	}
	return "", fmt.Errorf("unknown format %q: json, ndjson or csv", s)
}

// FormatOfFile guesses a file's format from its extension (.json,
// .ndjson, .jsonl, .csv).
func FormatOfFile(name string) (Format, bool) {
	f, err := ParseFormat(strings.TrimPrefix(filepath.Ext(name), "."))
	return f, err == nil
}

// FormatOfContentType reads an HTTP Content-Type: application/json,
// application/x-ndjson (or application/jsonl, application/ndjson), or
// text/csv. An empty one is JSON, as webhooks often send no type.
func FormatOfContentType(ct string) (Format, bool) {
	if strings.TrimSpace(ct) == "" {
		return JSON, true
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return "", false
	}
	switch mt {
	case "application/json", "text/json", "text/plain":
		return JSON, true
	case "application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines", "application/jsonlines":
		return NDJSON, true
	case "text/csv", "application/csv":
		return CSV, true
	}
	return "", false
}

// Record is one record of the input.
type Record struct {
	// Index is the record's position in the input, from 0.
	Index int
	// Line is the line the record starts on, from 1 (NDJSON and CSV; 0 for
	// JSON).
	Line int
	// Raw is the record's bytes as they came (a CSV row without its line
	// end); cut to the size limit when the record is too large.
	Raw []byte
	// Size is the record's size in bytes: more than len(Raw) when Raw was
	// cut.
	Size int
	// Header is the CSV header line, so that a rejected row can be read
	// (and replayed) on its own; nil for JSON.
	Header []byte

	data any
}

// Data is the record's decoded content: objects are map[string]any,
// numbers json.Number.
func (r Record) Data() any { return r.data }

// InputError is a problem with the input as a whole (JSON that does not
// parse, a CSV header without names, a read error): no record after it
// can be read.
type InputError struct{ Err error }

func (e *InputError) Error() string { return e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

// Read yields the records of an input in the format f. A record that
// cannot be read (a bad line, a row of the wrong width, one larger than
// maxBytes, invalid UTF-8) is yielded with an event.Errors, and reading
// goes on; a problem with the input as a whole is yielded as an
// *InputError with an empty record, and ends the sequence.
func (m *Mapping) Read(f Format, r io.Reader, maxBytes int) iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		switch f {
		case NDJSON:
			readNDJSON(r, maxBytes, yield)
		case CSV:
			readCSV(r, m.delimiter, maxBytes, yield)
		default:
			m.readJSON(r, maxBytes, yield)
		}
	}
}

// recordError is a problem with one record as a whole.
func recordError(format string, args ...any) event.Errors {
	return event.Errors{{Reason: fmt.Sprintf(format, args...)}}
}

func tooLarge(raw []byte, size, maxBytes int) (Record, error) {
	return Record{Raw: raw[:maxBytes], Size: size}, recordError("record of %d bytes, larger than %d", size, maxBytes)
}

// object decodes a JSON record, which must be an object.
func object(raw []byte) (any, error) {
	if !utf8.Valid(raw) {
		return nil, recordError("record is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, event.JSONErrors(err)
	}
	if dec.More() {
		return nil, recordError("record has data after its JSON value")
	}
	if _, ok := v.(map[string]any); !ok {
		return nil, recordError("a record must be a JSON object, got JSON %s", event.RawKind(raw))
	}
	return v, nil
}

func (m *Mapping) readJSON(r io.Reader, maxBytes int, yield func(Record, error) bool) {
	body, err := io.ReadAll(r)
	if err != nil {
		yield(Record{}, &InputError{fmt.Errorf("read input: %w", err)})
		return
	}
	if !utf8.Valid(body) {
		yield(Record{}, &InputError{errors.New("body is not valid UTF-8")})
		return
	}
	raw := json.RawMessage(bytes.TrimSpace(body))
	for i, step := range m.records {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(raw, &obj); err != nil {
			yield(Record{}, &InputError{fmt.Errorf("the body must be a JSON object holding the records at %q: %v", strings.Join(m.records, "."), event.JSONErrors(err))})
			return
		}
		if raw = obj[step]; raw == nil {
			yield(Record{}, &InputError{fmt.Errorf("the body has no %q: the records are expected there", strings.Join(m.records[:i+1], "."))})
			return
		}
	}
	var items []json.RawMessage
	if len(raw) > 0 && raw[0] == '[' {
		if err := json.Unmarshal(raw, &items); err != nil {
			yield(Record{}, &InputError{fmt.Errorf("the body is not a JSON array of records: %v", event.JSONErrors(err))})
			return
		}
	} else {
		if !json.Valid(raw) {
			var v any
			err := json.Unmarshal(raw, &v)
			yield(Record{}, &InputError{fmt.Errorf("the body is not JSON: %v", event.JSONErrors(err))})
			return
		}
		items = []json.RawMessage{raw}
	}
	for i, item := range items {
		if len(item) > maxBytes {
			rec, err := tooLarge(item, len(item), maxBytes)
			rec.Index = i
			if !yield(rec, err) {
				return
			}
			continue
		}
		rec := Record{Index: i, Raw: item, Size: len(item)}
		rec.data, err = object(item)
		if !yield(rec, err) {
			return
		}
	}
}

func readNDJSON(r io.Reader, maxBytes int, yield func(Record, error) bool) {
	br := bufio.NewReaderSize(r, 64<<10)
	index := 0
	for line := 1; ; line++ {
		raw, size, err := readLine(br, maxBytes)
		over := size > maxBytes
		if err != nil && err != io.EOF {
			yield(Record{}, &InputError{fmt.Errorf("read line %d: %w", line, err)})
			return
		}
		if len(bytes.TrimSpace(raw)) > 0 || over {
			rec := Record{Index: index, Line: line, Raw: raw, Size: size}
			var rerr error
			if over {
				rec, rerr = tooLarge(raw, size, maxBytes)
				rec.Index, rec.Line = index, line
			} else {
				rec.data, rerr = object(raw)
			}
			index++
			if !yield(rec, rerr) {
				return
			}
		}
		if err == io.EOF {
			return
		}
	}
}

// readLine reads one line without its line end, keeping at most
// maxBytes+1 bytes of it; size is the whole line's length (the rest of a
// longer line is skipped).
func readLine(br *bufio.Reader, maxBytes int) (line []byte, size int, err error) {
	for {
		chunk, err := br.ReadSlice('\n')
		size += len(chunk)
		if len(line) <= maxBytes {
			line = append(line, chunk...)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		trimmed := len(bytes.TrimRight(chunk, "\r\n"))
		size -= len(chunk) - trimmed
		line = bytes.TrimRight(line, "\r\n")
		if len(line) > maxBytes {
			line = line[:maxBytes+1]
		}
		return line, size, err
	}
}

// capture keeps what a reader has read since the last cut, so that a CSV
// row's bytes can be given as they came.
type capture struct {
	r    io.Reader
	buf  []byte
	base int64 // input offset of buf[0]
}

func (c *capture) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.buf = append(c.buf, p[:n]...)
	return n, err
}

// cut returns the bytes from the last cut to the input offset off.
func (c *capture) cut(off int64) []byte {
	n := int(off - c.base)
	out := bytes.Clone(c.buf[:n])
	c.buf = append(c.buf[:0], c.buf[n:]...)
	c.base = off
	return bytes.TrimRight(out, "\r\n")
}

func readCSV(r io.Reader, delim rune, maxBytes int, yield func(Record, error) bool) {
	// Excel writes a byte order mark before the header; drop it before the
	// CSV reader sees it (it would break a quoted first name).
	br := bufio.NewReader(r)
	if b, err := br.Peek(3); err == nil && string(b) == "\uFEFF" {
		_, _ = br.Discard(3)
	}
	cp := &capture{r: br}
	cr := csv.NewReader(cp)
	cr.Comma = delim
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	headerRaw := cp.cut(cr.InputOffset())
	if err == io.EOF {
		return
	}
	if err != nil {
		yield(Record{}, &InputError{fmt.Errorf("read the CSV header: %w", err)})
		return
	}
	names, err := csvNames(header)
	if err != nil {
		yield(Record{}, &InputError{err})
		return
	}
	for index := 0; ; index++ {
		row, err := cr.Read()
		if err == io.EOF {
			return
		}
		line := 0
		if err == nil && len(row) > 0 {
			line, _ = cr.FieldPos(0)
		}
		raw := cp.cut(cr.InputOffset())
		rec := Record{Index: index, Line: line, Raw: raw, Size: len(raw), Header: headerRaw}
		var perr *csv.ParseError
		switch {
		case errors.As(err, &perr):
			rec.Line = perr.StartLine
			err = recordError("CSV line %d: %v", perr.Line, perr.Err)
		case err != nil:
			yield(Record{}, &InputError{fmt.Errorf("read CSV: %w", err)})
			return
		case len(raw) > maxBytes:
			rec, err = tooLarge(raw, len(raw), maxBytes)
			rec.Index, rec.Line, rec.Header = index, line, headerRaw
		case !utf8.Valid(raw):
			err = recordError("record is not valid UTF-8")
		case len(row) != len(names):
			err = recordError("the row has %d columns, the header %d", len(row), len(names))
		default:
			rec.data = csvRecord(names, row)
		}
		if !yield(rec, err) {
			return
		}
	}
}

// csvNames splits the header's names into paths and checks them.
func csvNames(header []string) ([][]string, error) {
	names := make([][]string, len(header))
	seen := map[string]int{}
	for i, h := range header {
		h = strings.TrimSpace(h)
		if h == "" || !utf8.ValidString(h) {
			return nil, fmt.Errorf("CSV header column %d has no name", i+1)
		}
		if slices.Contains(strings.Split(h, "."), "") {
			return nil, fmt.Errorf("CSV header column %d (%q) has an empty part between dots", i+1, h)
		}
		if j, dup := seen[h]; dup {
			return nil, fmt.Errorf("CSV header columns %d and %d are both %q", j+1, i+1, h)
		}
		seen[h] = i
		names[i] = strings.Split(h, ".")
	}
	// A name may not be both a value and an object: "a" and "a.b".
	for h := range seen {
		for p := h; strings.Contains(p, "."); {
			p = p[:strings.LastIndexByte(p, '.')]
			if _, clash := seen[p]; clash {
				return nil, fmt.Errorf("CSV header names %q and %q clash: %q cannot be both a value and an object", p, h, p)
			}
		}
	}
	return names, nil
}

func csvRecord(names [][]string, row []string) map[string]any {
	data := make(map[string]any, len(row))
	for i, cell := range row {
		if strings.TrimSpace(cell) != "" {
			setPath(data, names[i], cell)
		}
	}
	return data
}

// decodeJSON decodes JSON that is known to be valid, numbers as
// json.Number.
func decodeJSON(b []byte) any {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	_ = dec.Decode(&v)
	return v
}
