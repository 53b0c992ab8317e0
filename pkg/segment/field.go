package segment

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/cxstream/cxstream/pkg/profile"
)

// fieldType is what a field holds, as far as the compiler knows.
type fieldType uint8

const (
	typeAny fieldType = iota // JSON of any kind: traits, preferences
	typeNumber
	typeText
	typeBool
	typeTime
	typeArray
	typeObject
)

func (t fieldType) String() string {
	return [...]string{"a JSON value", "a number", "a text", "a boolean", "a time", "an array", "an object"}[t]
}

// leaf says how an accessor reads the value its steps lead to.
type leaf uint8

const (
	leafString leaf = iota
	leafInt
	leafUint
	leafFloat
	leafBool
	leafTime
	leafStrings // []string
	leafStruct  // a struct as a whole: always present
	leafMap     // a map as a whole
	leafMapInt
	leafMapFloat
	leafMapBool
	leafMapStrings
	leafMapRaw // a JSON value, then rest
)

// step is one struct field on the way to a value.
type step struct {
	index int
	ptr   bool // the field is a pointer, followed unless nil
}

// accessor reads one field path of a profile. It is compiled once by
// reflection on profile.Profile's JSON tags; reading follows field indices
// and type-asserts maps and times through pointers, so that it allocates
// nothing but for JSON values (traits, preferences).
type accessor struct {
	path      string
	typ       fieldType
	steps     []step
	leaf      leaf
	omitEmpty bool     // omitted from the JSON form when empty
	key       string   // map key, for leafMap*
	rest      []string // path inside a JSON value, for leafMapRaw
}

var (
	timeType    = reflect.TypeFor[time.Time]()
	rawType     = reflect.TypeFor[json.RawMessage]()
	stringsType = reflect.TypeFor[[]string]()
	mapTypes    = map[reflect.Type]leaf{
		reflect.TypeFor[map[string]int64]():           leafMapInt,
		reflect.TypeFor[map[string]float64]():         leafMapFloat,
		reflect.TypeFor[map[string]bool]():            leafMapBool,
		reflect.TypeFor[map[string][]string]():        leafMapStrings,
		reflect.TypeFor[map[string]json.RawMessage](): leafMapRaw,
	}
	mapLeafTypes = map[leaf]fieldType{leafMapInt: typeNumber, leafMapFloat: typeNumber, leafMapBool: typeBool,
		leafMapStrings: typeArray, leafMapRaw: typeAny}
	// excluded are top-level fields that segments cannot test: provenance
	// is only rendered on request, and segment membership would make
	// segments depend on each other's previous results.
	excluded = map[string]string{
		"provenance": "provenance is not part of the profile segments see",
		"segments":   "segments cannot test segment membership",
	}
)

// resolve compiles a dotted path into an accessor, or says why the profile
// has no such field.
func resolve(path string) (*accessor, error) {
	parts := strings.Split(path, ".")
	if slices.Contains(parts, "") {
		return nil, fmt.Errorf("a field path is names joined by dots, without empty parts")
	}
	a := &accessor{path: path}
	t := reflect.TypeFor[profile.Profile]()
	for i := 0; i < len(parts); {
		where := strings.Join(parts[:i], ".")
		f, ok := jsonField(t, parts[i])
		if !ok {
			if where == "" {
				return nil, fmt.Errorf("unknown field: the profile has no %s (it has %s)", parts[i], strings.Join(jsonFields(t), ", "))
			}
			return nil, fmt.Errorf("unknown field: %s has no %s (it has %s)", where, parts[i], strings.Join(jsonFields(t), ", "))
		}
		if why, ok := excluded[parts[i]]; ok && i == 0 {
			return nil, fmt.Errorf("%s", why)
		}
		i++
		ft := f.Type
		s := step{index: f.Index[0]}
		if ft.Kind() == reflect.Pointer {
			s.ptr, ft = true, ft.Elem()
		}
		a.steps = append(a.steps, s)
		a.omitEmpty = hasOmitEmpty(f)
		here := strings.Join(parts[:i], ".")
		switch {
		case ft == timeType:
			a.leaf, a.typ = leafTime, typeTime
		case ft.Kind() == reflect.Struct:
			if i < len(parts) {
				t = ft
				continue
			}
			a.leaf, a.typ = leafStruct, typeObject
		case ft.Kind() == reflect.Map:
			l, ok := mapTypes[ft]
			if !ok {
				return nil, fmt.Errorf("%s (%s) is not supported by segments", here, ft)
			}
			if i == len(parts) {
				a.leaf, a.typ = leafMap, typeObject
				break
			}
			a.leaf, a.typ, a.key = l, mapLeafTypes[l], parts[i]
			i++
			if l == leafMapRaw {
				a.rest, i = parts[i:], len(parts)
			}
			here = strings.Join(parts[:i], ".")
		case ft == stringsType:
			a.leaf, a.typ = leafStrings, typeArray
		case ft.Kind() == reflect.String:
			a.leaf, a.typ = leafString, typeText
		case ft.Kind() == reflect.Bool:
			a.leaf, a.typ = leafBool, typeBool
		case ft.Kind() >= reflect.Int && ft.Kind() <= reflect.Int64:
			a.leaf, a.typ = leafInt, typeNumber
		case ft.Kind() >= reflect.Uint && ft.Kind() <= reflect.Uint64:
			a.leaf, a.typ = leafUint, typeNumber
		case ft.Kind() == reflect.Float32 || ft.Kind() == reflect.Float64:
			a.leaf, a.typ = leafFloat, typeNumber
		default:
			return nil, fmt.Errorf("%s (%s) is not supported by segments", here, ft)
		}
		if i < len(parts) {
			if a.typ == typeArray {
				return nil, fmt.Errorf("%s is an array and has no fields (test its elements with contains)", here)
			}
			return nil, fmt.Errorf("%s is %s and has no fields", here, a.typ)
		}
	}
	return a, nil
}

// jsonField finds the exported field of a struct that encoding/json names
// name.
func jsonField(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if f.IsExported() && !f.Anonymous && jsonName(f) == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// jsonFields lists the JSON names of a struct's fields.
func jsonFields(t reflect.Type) []string {
	var names []string
	for i := range t.NumField() {
		f := t.Field(i)
		if n := jsonName(f); f.IsExported() && !f.Anonymous && n != "-" && excluded[n] == "" {
			names = append(names, n)
		}
	}
	return names
}

func jsonName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	if name == "" {
		return f.Name
	}
	return name
}

func hasOmitEmpty(f reflect.StructField) bool {
	_, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
	return slices.Contains(strings.Split(opts, ","), "omitempty")
}

// get reads the accessor's value from a profile (root is the Profile
// itself, addressable). A value the JSON form would omit or render null is
// missing.
func (a *accessor) get(root reflect.Value) value {
	v := root
	for _, s := range a.steps {
		v = v.Field(s.index)
		if s.ptr {
			if v.IsNil() {
				return value{}
			}
			v = v.Elem()
		}
	}
	switch a.leaf {
	case leafString:
		if s := v.String(); s != "" || !a.omitEmpty {
			return value{kind: kindText, str: s}
		}
	case leafInt:
		if n := v.Int(); n != 0 || !a.omitEmpty {
			return value{kind: kindNumber, num: float64(n)}
		}
	case leafUint:
		if n := v.Uint(); n != 0 || !a.omitEmpty {
			return value{kind: kindNumber, num: float64(n)}
		}
	case leafFloat:
		if n := v.Float(); n != 0 || !a.omitEmpty {
			return value{kind: kindNumber, num: n}
		}
	case leafBool:
		if b := v.Bool(); b || !a.omitEmpty {
			return value{kind: kindBool, b: b}
		}
	case leafTime:
		return value{kind: kindTime, t: *v.Addr().Interface().(*time.Time)}
	case leafStrings:
		if s := *v.Addr().Interface().(*[]string); s != nil && (len(s) > 0 || !a.omitEmpty) {
			return value{kind: kindStrings, strs: s}
		}
	case leafStruct:
		return value{kind: kindObject}
	case leafMap:
		if !v.IsNil() && (v.Len() > 0 || !a.omitEmpty) {
			return value{kind: kindObject}
		}
	case leafMapInt:
		if n, ok := v.Interface().(map[string]int64)[a.key]; ok {
			return value{kind: kindNumber, num: float64(n)}
		}
	case leafMapFloat:
		if n, ok := v.Interface().(map[string]float64)[a.key]; ok {
			return value{kind: kindNumber, num: n}
		}
	case leafMapBool:
		if b, ok := v.Interface().(map[string]bool)[a.key]; ok {
			return value{kind: kindBool, b: b}
		}
	case leafMapStrings:
		if s, ok := v.Interface().(map[string][]string)[a.key]; ok && s != nil {
			return value{kind: kindStrings, strs: s}
		}
	case leafMapRaw:
		if raw, ok := v.Interface().(map[string]json.RawMessage)[a.key]; ok {
			return jsonValue(raw, a.rest)
		}
	}
	return value{}
}
