package collect

import (
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// gzipSlack is how much larger than the limit a gzip body may be: gzip
// grows incompressible data by its header and 5 bytes per 64 KiB block.
const gzipSlack = 1 << 10

// bodyError is a request body that cannot be read; code is the HTTP status
// to answer with.
type bodyError struct {
	code int
	msg  string
}

func (e *bodyError) Error() string { return e.msg }

func tooLarge(limit int, setting string) *bodyError {
	return &bodyError{code: http.StatusRequestEntityTooLarge,
		msg: fmt.Sprintf("request body larger than %d bytes (%s)", limit, setting)}
}

// readBody reads the request body, decompressing gzip, and fails with a
// *bodyError when it is larger than limit bytes (after decompression; a gzip
// bomb is cut off at limit+1 bytes) or uses an encoding other than gzip.
func readBody(r *http.Request, limit int, setting string) ([]byte, error) {
	enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding")))
	switch enc {
	case "", "identity":
		if r.ContentLength > int64(limit) {
			return nil, tooLarge(limit, setting)
		}
		return readLimited(r.Body, limit, setting)
	case "gzip":
		if r.ContentLength > int64(limit+gzipSlack) {
			return nil, tooLarge(limit, setting)
		}
		compressed := &io.LimitedReader{R: r.Body, N: int64(limit + gzipSlack + 1)}
		zr, err := gzip.NewReader(compressed)
		if err != nil {
			return nil, &bodyError{code: http.StatusBadRequest, msg: "read gzip body: " + err.Error()}
		}
		defer zr.Close()
		b, err := readLimited(zr, limit, setting)
		if compressed.N <= 0 {
			return nil, tooLarge(limit, setting)
		}
		return b, err
	}
	return nil, &bodyError{code: http.StatusUnsupportedMediaType,
		msg: fmt.Sprintf("unsupported Content-Encoding %q: send gzip or no encoding", enc)}
}

func readLimited(rd io.Reader, limit int, setting string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(rd, int64(limit)+1))
	if err != nil {
		return nil, &bodyError{code: http.StatusBadRequest, msg: "read request body: " + err.Error()}
	}
	if len(b) > limit {
		return nil, tooLarge(limit, setting)
	}
	return b, nil
}
