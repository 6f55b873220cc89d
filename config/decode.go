package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The file is decoded by walking its yaml.Node tree against the struct by
// reflection rather than with yaml.Decoder.KnownFields: that way every
// unknown key and wrong type is reported with its key path (yaml.v3 gives
// only a line, and several keys can share one line in flow style), all of
// them at once, and a bad value never stops the rest of the file from being
// checked.

// maxNodes bounds the nodes visited, so that a file of aliases pointing at
// aliases cannot expand into billions of values ("billion laughs"). A
// bootstrap of ten thousand users with a few roles each stays well below.
const maxNodes = 1 << 18

// decoder collects problems and remembers the line of every key path it
// decoded, so that problems found later by validation can name a line too.
type decoder struct {
	errs   *Errors
	lines  map[string]int
	budget int
	bomb   Problem // where the budget ran out
}

// syntaxError matches yaml.v3's "yaml: line N: message".
var syntaxError = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// decodeYAML decodes data, one YAML document, into out, a pointer to a
// struct holding defaults that absent keys keep. It returns the line of
// every decoded key path and false when data is not YAML at all, in which
// case errs holds that single problem and nothing was decoded.
func decodeYAML(data []byte, out any, errs *Errors) (lines map[string]int, ok bool) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return map[string]int{}, true // empty, or only comments: all defaults
		}
		addSyntaxError(errs, err)
		return nil, false
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		addSyntaxError(errs, err)
		return nil, false
	default:
		errs.addAt("", extra.Line, "the file holds more than one YAML document; the configuration must be one")
		return nil, false
	}
	d := &decoder{errs: errs, lines: map[string]int{}, budget: maxNodes}
	if len(doc.Content) > 0 {
		d.value(doc.Content[0], reflect.ValueOf(out).Elem(), "")
	}
	if d.budget < 0 {
		// What was decoded is a fragment; checking it would bury the one
		// problem that matters under thousands of others.
		*errs = Errors{Problems: []Problem{d.bomb}}
		return nil, false
	}
	return d.lines, true
}

func addSyntaxError(errs *Errors, err error) {
	msg := err.Error()
	if m := syntaxError.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		errs.addAt("", line, "invalid YAML: %s", m[2])
		return
	}
	errs.addf("", "invalid YAML: %s", strings.TrimPrefix(msg, "yaml: "))
}

// value decodes n into v, which is settable, recording problems at path.
func (d *decoder) value(n *yaml.Node, v reflect.Value, path string) {
	if n = d.resolve(n, path); n == nil {
		return
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		// As in yaml.v3: null empties a list or pointer (so a default that
		// depends on omission applies) and leaves any other value as it was.
		switch v.Kind() {
		case reflect.Pointer, reflect.Slice:
			v.SetZero()
		}
		return
	}
	if _, ok := v.Addr().Interface().(yaml.Unmarshaler); ok {
		// Decode into a copy so that a bad value leaves the default alone.
		tmp := reflect.New(v.Type())
		tmp.Elem().Set(v)
		if err := tmp.Interface().(yaml.Unmarshaler).UnmarshalYAML(n); err != nil {
			d.errs.addAt(path, n.Line, "%s", err)
			return
		}
		v.Set(tmp.Elem())
		return
	}
	if sf, ok := v.Addr().Interface().(scalarForm); ok && n.Kind == yaml.ScalarNode {
		// The short form of a struct: a scalar fills one field.
		d.scalar(n, v.FieldByName(sf.scalarField()), path)
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.mapping(n, v, path)
	case reflect.Slice:
		d.sequence(n, v, path)
	case reflect.Pointer:
		before := len(d.errs.Problems)
		e := reflect.New(v.Type().Elem())
		if !v.IsNil() {
			e.Elem().Set(v.Elem())
		}
		d.value(n, e.Elem(), path)
		if len(d.errs.Problems) == before {
			v.Set(e)
		}
	default:
		d.scalar(n, v, path)
	}
}

// scalarForm is a struct that may also be written as a bare scalar, which
// fills the field scalarField names (a scope: its name alone, or a mapping
// with its name and description).
type scalarForm interface{ scalarField() string }

// resolve follows aliases and charges the node to the budget; it returns
// nil once the budget is spent.
func (d *decoder) resolve(n *yaml.Node, path string) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if d.budget--; d.budget < 0 {
		if d.budget == -1 {
			d.bomb = Problem{Path: path, Line: n.Line, Message: fmt.Sprintf("the file expands to more than %d values through aliases; stopped reading", maxNodes)}
		}
		return nil
	}
	return n
}

// pair is one key and value of a mapping; merged marks pairs brought in by
// a "<<" merge key, which explicit keys override without complaint.
type pair struct {
	key, val *yaml.Node
	merged   bool
}

func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.errs.addAt(path, n.Line, "must be a mapping, not %s", describe(n))
		return
	}
	fields := yamlFields(v.Type())
	seen := map[string]int{} // key → line it was first set on
	for _, p := range d.pairs(n, path, false, nil) {
		k := p.key.Value
		if first, dup := seen[k]; dup {
			if !p.merged {
				d.errs.addAt(key(path, k), p.key.Line, "duplicate key, first set on line %d", first)
			}
			continue
		}
		seen[k] = p.key.Line
		f, ok := fields.find(k)
		if !ok {
			msg := "unknown key"
			if s := closest(k, fields.names()); s != "" {
				msg += fmt.Sprintf(", did you mean %q?", s)
			}
			d.errs.addAt(key(path, k), p.key.Line, "%s", msg)
			continue
		}
		fp := key(path, k)
		d.lines[fp] = p.key.Line
		d.value(p.val, v.FieldByIndex(f.index), fp)
	}
}

// pairs lists the pairs of mapping n: its own keys first, then those of the
// mappings it merges with "<<", earlier merges first, as YAML specifies.
func (d *decoder) pairs(n *yaml.Node, path string, merged bool, out []pair) []pair {
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		switch {
		case k.Kind == yaml.ScalarNode && k.Value == "<<" && k.ShortTag() == "!!merge":
			merges = append(merges, val)
		case k.Kind != yaml.ScalarNode:
			d.errs.addAt(path, k.Line, "keys must be plain strings, not %s", describe(k))
		default:
			out = append(out, pair{key: k, val: val, merged: merged})
		}
	}
	for _, m := range merges {
		if m = d.resolve(m, path); m == nil {
			return out
		}
		switch m.Kind {
		case yaml.MappingNode:
			out = d.pairs(m, path, true, out)
		case yaml.SequenceNode:
			for _, e := range m.Content {
				if e = d.resolve(e, path); e == nil {
					return out
				}
				if e.Kind != yaml.MappingNode {
					d.errs.addAt(path, e.Line, "<< must merge mappings, not %s", describe(e))
					continue
				}
				out = d.pairs(e, path, true, out)
			}
		default:
			d.errs.addAt(path, m.Line, "<< must merge a mapping or a list of mappings, not %s", describe(m))
		}
	}
	return out
}

func (d *decoder) sequence(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.SequenceNode {
		d.errs.addAt(path, n.Line, "must be a list, not %s", describe(n))
		return
	}
	// A new, non-nil slice even when empty: an explicit [] means "none",
	// which some defaults (a client's grant_types) tell apart from omission.
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, e := range n.Content {
		ip := index(path, i)
		d.lines[ip] = e.Line
		d.value(e, s.Index(i), ip)
	}
	v.Set(s)
}

// scalar decodes a string, bool or integer with yaml.v3's own rules, but
// words the problem itself: yaml.v3's message would echo the value, and the
// value may be a secret.
func (d *decoder) scalar(n *yaml.Node, v reflect.Value, path string) {
	want := describeType(v.Type())
	if n.Kind != yaml.ScalarNode {
		d.errs.addAt(path, n.Line, "must be %s, not %s", want, describe(n))
		return
	}
	tmp := reflect.New(v.Type())
	err := n.Decode(tmp.Interface())
	if err == nil && v.CanInt() && n.ShortTag() != "!!int" {
		// yaml.v3 would truncate 2.5 to 2.
		err = fmt.Errorf("not an integer")
	}
	if err != nil {
		if v.Kind() == reflect.String {
			d.errs.addAt(path, n.Line, "must be %s", want)
		} else { // booleans and numbers are never secrets
			d.errs.addAt(path, n.Line, "must be %s, got %s", want, shorten(n.Value))
		}
		return
	}
	v.Set(tmp.Elem())
}

// describe names the kind of a node for a problem message, never its value.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!bool":
			return "a boolean"
		case "!!int", "!!float":
			return "a number"
		case "!!null":
			return "null"
		}
		return "a string"
	}
	return "an alias"
}

func describeType(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.String:
		return "a string"
	}
	return "a " + t.String()
}

// shorten quotes a non-secret value for a message, cut to a readable length.
func shorten(s string) string {
	const limit = 40
	if r := []rune(s); len(r) > limit {
		s = string(r[:limit]) + "…"
	}
	return strconv.Quote(s)
}

// field is a struct field as the YAML file names it.
type field struct {
	name  string
	index []int
}

type fieldList []field

// yamlFields lists the exported fields of struct type t by their yaml tag
// name, or by their lower-cased Go name when untagged, as yaml.v3 does.
func yamlFields(t reflect.Type) fieldList {
	var fs fieldList
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(sf.Name)
		}
		fs = append(fs, field{name: name, index: sf.Index})
	}
	return fs
}

func (fs fieldList) find(name string) (field, bool) {
	for _, f := range fs {
		if f.name == name {
			return f, true
		}
	}
	return field{}, false
}

func (fs fieldList) names() []string {
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = f.name
	}
	return names
}
