package event

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
)

const (
	// maxTraitOps is the most entries each of traits_set_once, traits_unset
	// and traits_increment may have.
	maxTraitOps = 256
	// maxIncrementMicros is the largest absolute increment, 1e12, in
	// millionths.
	maxIncrementMicros = 1_000_000_000_000_000_000
	// incrementDecimals is how many decimal places an increment may have.
	incrementDecimals = 6
)

// Why Micros rejects a number; the reasons of the traits_increment errors.
var (
	errNotNumber        = errors.New("must be a JSON number")
	errIncrementRange   = errors.New("must be at most 1e12 in absolute value")
	errIncrementDecimal = errors.New("must have at most 6 decimal places: increments are folded as integer micro-units (millionths)")
)

// Micros converts an increment (a value of Event.TraitsIncrement) to integer
// millionths, exactly, by decimal arithmetic on its text: "0.1" -> 100000,
// "-2.5" -> -2500000, "1e3" -> 1000000000. It fails unless n is a JSON
// number of at most 1e12 in absolute value and with at most 6 decimal places
// (trailing zeros of the fraction do not count), so the result is never more
// than 1e18 in absolute value. Prepare rejects the increments it fails on,
// so it does not fail on those of a prepared event.
func Micros(n json.Number) (int64, error) {
	s := string(n)
	i := 0
	neg := i < len(s) && s[i] == '-'
	if neg {
		i++
	}
	intStart := i
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	intPart := s[intStart:i]
	if intPart == "" || (len(intPart) > 1 && intPart[0] == '0') {
		return 0, errNotNumber
	}
	var frac string
	if i < len(s) && s[i] == '.' {
		i++
		fracStart := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		if frac = s[fracStart:i]; frac == "" {
			return 0, errNotNumber
		}
	}
	exp := 0
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		expNeg := false
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			expNeg = s[i] == '-'
			i++
		}
		expStart := i
		for ; i < len(s) && isDigit(s[i]); i++ {
			// Past a million the exponent decides the outcome by itself
			// (for any number not zero); stop growing it before it can
			// overflow.
			if exp < 1_000_000 {
				exp = exp*10 + int(s[i]-'0')
			}
		}
		if i == expStart {
			return 0, errNotNumber
		}
		if expNeg {
			exp = -exp
		}
	}
	if i != len(s) {
		return 0, errNotNumber
	}

	// The value is digits × 10^-scale, digits being the integer part and the
	// fraction written together.
	scale := len(frac) - exp
	trimmedInt := trimLeadingZeros(intPart)
	digits := trimmedInt + frac
	if trimmedInt == "" {
		digits = trimLeadingZeros(frac)
	}
	if digits == "" {
		return 0, nil // zero, whatever its sign and exponent
	}
	for digits[len(digits)-1] == '0' {
		digits = digits[:len(digits)-1]
		scale--
	}
	if scale > incrementDecimals {
		return 0, errIncrementDecimal
	}
	// The result has len(digits)+shift digits; more than 19 are beyond
	// 1e18 (and beyond uint64 at 20), so they are refused before any
	// arithmetic.
	shift := incrementDecimals - scale
	if len(digits)+shift > 19 {
		return 0, errIncrementRange
	}
	var v uint64
	for j := 0; j < len(digits); j++ {
		v = v*10 + uint64(digits[j]-'0')
	}
	for range shift {
		v *= 10
	}
	if v > maxIncrementMicros {
		return 0, errIncrementRange
	}
	if neg {
		return -int64(v), nil
	}
	return int64(v), nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func trimLeadingZeros(s string) string {
	for len(s) > 0 && s[0] == '0' {
		s = s[1:]
	}
	return s
}

// validateTraitOps checks the trait operations other than Traits (which
// validateFields checks as it always has): names of 1 to maxTraitKey bytes,
// at most maxTraitOps entries per operation, increments that Micros accepts,
// and no trait named by two operations of the event. Errors name the entry
// ("traits_increment.points", "traits_unset[2]") where there is one; errors
// about several entries are sorted by field so that the same event always
// gets the same answer.
func validateTraitOps(e *Event, errs *Errors) {
	if len(e.TraitsSetOnce) > maxTraitOps {
		errs.add("traits_set_once", "at most %d traits per event", maxTraitOps)
	}
	for k := range e.TraitsSetOnce {
		if !validTraitName(k) {
			errs.add("traits_set_once", "trait names must be 1 to %d bytes", maxTraitKey)
			break
		}
	}
	if len(e.TraitsUnset) > maxTraitOps {
		errs.add("traits_unset", "at most %d traits per event", maxTraitOps)
	}
	for i, k := range e.TraitsUnset {
		if !validTraitName(k) {
			errs.add(fmt.Sprintf("traits_unset[%d]", i), "trait names must be 1 to %d bytes", maxTraitKey)
			break
		}
	}
	if len(e.TraitsIncrement) > maxTraitOps {
		errs.add("traits_increment", "at most %d traits per event", maxTraitOps)
	}
	var local Errors
	badName := false
	for k, n := range e.TraitsIncrement {
		if !validTraitName(k) {
			badName = true
			continue
		}
		if _, err := Micros(n); err != nil {
			local.add("traits_increment."+k, "%v", err)
		}
	}
	if badName {
		errs.add("traits_increment", "trait names must be 1 to %d bytes", maxTraitKey)
	}
	appendSorted(errs, local)
	validateTraitConflicts(e, errs)
}

// validateTraitConflicts reports every trait that two operations of e name,
// at the later of them in the order traits, traits_set_once, traits_unset,
// traits_increment: whether the fold would set before it increments, or
// the other way round, is nothing a producer should rely on.
func validateTraitConflicts(e *Event, errs *Errors) {
	ops := 0
	for _, n := range []int{len(e.Traits), len(e.TraitsSetOnce), len(e.TraitsUnset), len(e.TraitsIncrement)} {
		if n > 0 {
			ops++
		}
	}
	if ops < 2 {
		return
	}
	const reason = "conflicting operations on trait %q (%s and %s)"
	var local Errors
	for k := range e.TraitsSetOnce {
		if _, ok := e.Traits[k]; ok {
			local.add("traits_set_once."+k, reason, k, "set", "set_once")
		}
	}
	var unset map[string]bool
	if len(e.TraitsUnset) > 0 && len(e.TraitsIncrement) > 0 {
		unset = make(map[string]bool, len(e.TraitsUnset))
	}
	for i, k := range e.TraitsUnset {
		if unset != nil {
			unset[k] = true
		}
		field := fmt.Sprintf("traits_unset[%d]", i)
		if _, ok := e.Traits[k]; ok {
			local.add(field, reason, k, "set", "unset")
		} else if _, ok := e.TraitsSetOnce[k]; ok {
			local.add(field, reason, k, "set_once", "unset")
		}
	}
	for k := range e.TraitsIncrement {
		if _, ok := e.Traits[k]; ok {
			local.add("traits_increment."+k, reason, k, "set", "increment")
		} else if _, ok := e.TraitsSetOnce[k]; ok {
			local.add("traits_increment."+k, reason, k, "set_once", "increment")
		} else if unset[k] {
			local.add("traits_increment."+k, reason, k, "unset", "increment")
		}
	}
	appendSorted(errs, local)
}

func validTraitName(k string) bool { return k != "" && len(k) <= maxTraitKey }

// appendSorted appends local to errs in the order of their fields.
func appendSorted(errs *Errors, local Errors) {
	sortByField(local)
	*errs = append(*errs, local...)
}

func sortByField(errs Errors) {
	if len(errs) > 1 {
		slices.SortFunc(errs, func(a, b FieldError) int { return cmp.Compare(a.Field, b.Field) })
	}
}
