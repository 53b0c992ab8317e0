package mapping

import (
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/cxstream/cxstream/schemas"
)

// Set is the mappings a process knows, by name.
type Set struct {
	byName map[string]*Mapping
}

// Builtin returns the mappings shipped in schemas/mappings.
func Builtin() (*Set, error) {
	s := &Set{byName: map[string]*Mapping{}}
	if err := s.addFS(schemas.Mappings, "mappings"); err != nil {
		return nil, fmt.Errorf("built-in mappings: %w", err)
	}
	return s, nil
}

// Load returns the built-in mappings plus the *.yaml files of dir (when
// dir is not empty); a file of dir replaces the built-in mapping of the
// same name.
func Load(dir string) (*Set, error) {
	s, err := Builtin()
	if err != nil || dir == "" {
		return s, err
	}
	if err := s.addFS(os.DirFS(dir), "."); err != nil {
		return nil, fmt.Errorf("mappings in %s: %w", dir, err)
	}
	return s, nil
}

// addFS compiles the *.yaml files of dir in fsys; a name used by two files
// of the same directory is an error.
func (s *Set) addFS(fsys fs.FS, dir string) error {
	files, err := fs.Glob(fsys, path.Join(dir, "*.yaml"))
	if err != nil {
		return err
	}
	local := map[string]string{}
	for _, f := range files {
		b, err := fs.ReadFile(fsys, f)
		if err != nil {
			return err
		}
		m, err := Parse(b)
		if err != nil {
			return fmt.Errorf("%s: %w", path.Base(f), err)
		}
		if other, dup := local[m.name]; dup {
			return fmt.Errorf("%s and %s are both named %q", other, path.Base(f), m.name)
		}
		local[m.name] = path.Base(f)
		s.byName[m.name] = m
	}
	return nil
}

// Get returns the mapping of a name.
func (s *Set) Get(name string) (*Mapping, bool) {
	m, ok := s.byName[name]
	return m, ok
}

// Names lists the mappings' names in order.
func (s *Set) Names() []string { return slices.Sorted(maps.Keys(s.byName)) }

// Unknown is the error for a name the set does not have.
func (s *Set) Unknown(name string) error {
	return fmt.Errorf("unknown mapping %q (known: %s)", name, strings.Join(s.Names(), ", "))
}
