package tracking

import (
	"fmt"

	"github.com/cxstream/cxstream/pkg/event"
)

// addErr records a problem with one field of a message.
func addErr(errs *event.Errors, field, format string, args ...any) {
	*errs = append(*errs, event.FieldError{Field: field, Reason: fmt.Sprintf(format, args...)})
}
