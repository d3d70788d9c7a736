package inventory

import (
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rotorhq/rotor/internal/provider"
	"go.yaml.in/yaml/v3"
)

// Catalog maps provider types to their configuration structs. The composition root passes
// the built-in catalog; tests may pass a small one.
type Catalog interface {
	// NewConfig returns a pointer to a new zero config struct for the provider type, and
	// false when the kind has no such type.
	NewConfig(kind provider.Kind, typ string) (any, bool)
	// Types lists the provider types of a kind, sorted.
	Types(kind provider.Kind) []string
}

// Struct tags understood by the decoder (and by the schema generator):
//
//	yaml:"key"            the YAML key; "-" for fields the decoder fills itself
//	rotor:"required"      the key must be present and not null
//	rotor:"keyed"         a YAML mapping decoded into a []*T whose ID field gets the key
//	rotor:"enum=a|b"      the scalar must be one of these
//	rotor:"ref=KIND"      the scalar (or each list item) names a team, window, identity or check
//	rotor:"provider=KIND" the scalar names a provider type of that kind (see Catalog)
//	rotor:"config"        an `any` field that receives the provider's own keys
//	doc:"…"               the key's description in the JSON Schema
//
// A field named Pos of type Pos receives the position of the entry (its key, for keyed
// entries); a field named ID receives a keyed entry's key.
type fieldInfo struct {
	key      string
	index    int
	typ      reflect.Type
	required bool
	keyed    bool
	enum     []string
	ref      string
	refKind  refKind
	provider provider.Kind
	doc      string
}

type structInfo struct {
	fields    []fieldInfo
	byKey     map[string]int
	keys      []string // sorted, for suggestions
	posIndex  int      // -1 when absent
	idIndex   int
	config    int // field index of the config holder, -1 when absent
	typeField int // index into fields of the provider-type field, -1 when absent
}

var structInfos sync.Map // reflect.Type -> *structInfo

var (
	posType      = reflect.TypeFor[Pos]()
	scalarType   = reflect.TypeFor[scalarDecoder]()
	durationType = reflect.TypeFor[time.Duration]()
)

func infoOf(t reflect.Type) *structInfo {
	if si, ok := structInfos.Load(t); ok {
		return si.(*structInfo)
	}
	si := &structInfo{byKey: map[string]int{}, posIndex: -1, idIndex: -1, config: -1, typeField: -1}
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		key := sf.Tag.Get("yaml")
		opts := sf.Tag.Get("rotor")
		switch {
		case sf.Name == "Pos" && sf.Type == posType:
			si.posIndex = i
			continue
		case sf.Name == "ID" && key == "-":
			si.idIndex = i
			continue
		case opts == "config":
			si.config = i
			continue
		case key == "-":
			continue
		}
		if key == "" {
			key = strings.ToLower(sf.Name)
		}
		f := fieldInfo{key: key, index: i, typ: sf.Type, doc: sf.Tag.Get("doc")}
		for _, o := range strings.Split(opts, ",") {
			name, val, _ := strings.Cut(o, "=")
			switch name {
			case "required":
				f.required = true
			case "keyed":
				f.keyed = true
			case "enum":
				f.enum = strings.Split(val, "|")
			case "ref":
				f.ref = val
				f.refKind = refKindOf(val)
			case "provider":
				f.provider = provider.Kind(val)
			}
		}
		if f.provider != "" {
			si.typeField = len(si.fields)
		}
		si.byKey[key] = len(si.fields)
		si.fields = append(si.fields, f)
		si.keys = append(si.keys, key)
	}
	slices.Sort(si.keys)
	actual, _ := structInfos.LoadOrStore(t, si)
	return actual.(*structInfo)
}

// A provider's config must not have a key of the block it is written in (a check's type,
// description, timeout): the block decodes its own keys first, so the provider would never
// see the value, and the key would quietly mean the block's thing only — as the loki, logsql
// and kql checks' own `timeout` once did, capped by a default nobody could raise. The decoder
// reports such a config wherever its type is named, and the schema generator refuses it; a
// test holds every built-in config to its block.
var collisions sync.Map // [2]reflect.Type{block, config} -> the colliding key, "" for none

// collision is the first key (in sorted order) that the config, described by ci, shares
// with the block, described by si; "" when they share none. It is worked out once per pair.
func collision(block, config reflect.Type, si, ci *structInfo) string {
	pair := [2]reflect.Type{block, config}
	if k, ok := collisions.Load(pair); ok {
		return k.(string)
	}
	key := ""
	for _, k := range ci.keys {
		if _, ok := si.byKey[k]; ok {
			key = k
			break
		}
	}
	collisions.Store(pair, key)
	return key
}

// collisionMsg says what is wrong with a config that has a key of its block.
func collisionMsg(kind provider.Kind, typ, key string) string {
	return fmt.Sprintf("%s type %q has a key %q of its own, which is also a key of the %s block: the block's would hide it; this is a bug in rotor, not in the inventory", kind, typ, key, kind)
}

// decoder fills the model from one file's yaml.Node trees.
type decoder struct {
	file  string
	index int32 // the file's index in the load
	cat   Catalog
	e     *errs
	nodes int // nodes left to decode: aliases can make a small file expand exponentially
	full  bool
	keys  []string // the key path of the node being decoded

	// Where references go: uses records which files name what; refs, when set instead,
	// receives every reference with its position and key path (see refsOf).
	uses *refUses
	refs *[]refUse

	strs    *interner              // nil: no interning
	slabs   map[reflect.Type]*slab // see new
	scalars map[reflect.Type]bool  // see isScalar
}

// The key path leading to the node being decoded (credentials.db.consumers.api.reads) is
// kept as a stack of keys on the decoder, pushed and popped as the decoder descends, and
// rendered only when an error needs it: nothing is allocated per key.

// push enters a key; every push is followed by a pop.
func (d *decoder) push(key string) { d.keys = append(d.keys, key) }

func (d *decoder) pop() { d.keys = d.keys[:len(d.keys)-1] }

// path renders the key path.
func (d *decoder) path() string { return strings.Join(d.keys, ".") }

// decodeAt decodes n as the value of key.
func (d *decoder) decodeAt(key string, n *yaml.Node, v reflect.Value, f *fieldInfo) {
	d.push(key)
	d.decode(n, v, f)
	d.pop()
}

// errorAt reports an error at n under key.
func (d *decoder) errorAt(key string, n *yaml.Node, format string, args ...any) {
	d.push(key)
	d.errorf(n, format, args...)
	d.pop()
}

// maxErrorsPerFile stops a pathological file from printing a million lines.
const maxErrorsPerFile = 500

func (d *decoder) pos(n *yaml.Node) Pos { return Pos{File: d.file, Line: n.Line, Col: n.Column} }

func (d *decoder) errorf(n *yaml.Node, format string, args ...any) {
	if d.full {
		return
	}
	if len(d.e.list) >= maxErrorsPerFile {
		d.full = true
		d.e.list = append(d.e.list, Error{Pos: d.pos(n), Msg: fmt.Sprintf("more than %d errors in this file: fix these first", maxErrorsPerFile)})
		return
	}
	msg := fmt.Sprintf(format, args...)
	if s := d.path(); s != "" {
		msg = s + ": " + msg
	}
	d.e.list = append(d.e.list, Error{Pos: d.pos(n), Msg: msg})
}

// resolve follows aliases. Every node decoded is charged to the budget, so aliases nested in
// aliases cannot make a small file decode into billions of nodes.
func (d *decoder) resolve(n *yaml.Node) (*yaml.Node, bool) {
	d.nodes--
	if d.nodes < 0 {
		if d.nodes == -1 {
			d.errorf(n, "too many alias expansions: the document expands far beyond its size")
		}
		return nil, false
	}
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n, true
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

// idPattern is the shape of an id, as the JSON Schema states it; validID is the loader's
// (faster) test of the same, and a test checks that the two agree.
var idPattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9._-]{0,126}[a-z0-9])?$`)

func validID(s string) bool {
	if len(s) == 0 || len(s) > 128 || !idEnd(s[0]) || !idEnd(s[len(s)-1]) {
		return false
	}
	for i := 1; i < len(s)-1; i++ {
		if c := s[i]; !idEnd(c) && c != '.' && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

// idEnd reports whether c may start or end an id.
func idEnd(c byte) bool { return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' }

// decode fills v from n. f describes the field being filled (nil for list items and roots).
func (d *decoder) decode(n *yaml.Node, v reflect.Value, f *fieldInfo) {
	n, ok := d.resolve(n)
	if !ok || isNull(n) {
		return
	}
	if v.CanAddr() && d.isScalar(v.Type()) {
		if n.Kind != yaml.ScalarNode {
			d.errorf(n, "expected a single value, got %s", describe(n))
			return
		}
		if err := v.Addr().Interface().(scalarDecoder).decodeScalar(n); err != nil {
			d.errorf(n, "%v", err)
		}
		return
	}
	if v.Type() == durationType {
		dur := Duration{}
		if n.Kind != yaml.ScalarNode {
			d.errorf(n, "expected a duration such as 30m, 24h, 90d or 2w, got %s", describe(n))
		} else if err := dur.decodeScalar(n); err != nil {
			d.errorf(n, "%v", err)
		} else {
			v.SetInt(int64(dur.Duration))
		}
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		elem := d.new(v.Type().Elem())
		d.decode(n, elem.Elem(), f)
		v.Set(elem)
	case reflect.Struct:
		d.decodeStruct(n, v, infoOf(v.Type()))
	case reflect.Slice:
		if f != nil && f.keyed {
			d.decodeKeyed(n, v)
			return
		}
		if n.Kind != yaml.SequenceNode {
			d.errorf(n, "expected a list, got %s", describe(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			d.push(strconv.Itoa(i))
			d.decode(item, s.Index(i), f)
			// A list of entries (freezes) has no room for an empty one: "- " alone is
			// an error, not a nil entry (unless the alias budget ran out, reported once).
			if e := s.Index(i); e.Kind() == reflect.Pointer && e.Type().Elem().Kind() == reflect.Struct && e.IsNil() && d.nodes >= 0 {
				d.errorf(item, "expected a mapping with keys %s, got %s", strings.Join(infoOf(e.Type().Elem()).keys, ", "), describe(item))
			}
			d.pop()
		}
		v.Set(s)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			d.errorf(n, "expected a mapping, got %s", describe(n))
			return
		}
		m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
		d.eachPair(n, func(k, val *yaml.Node) {
			e := reflect.New(v.Type().Elem()).Elem()
			d.decodeAt(k.Value, val, e, nil)
			m.SetMapIndex(reflect.ValueOf(d.strs.get(k.Value)), e)
		})
		v.Set(m)
	case reflect.String:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
			if n.Kind == yaml.ScalarNode && n.Tag != "!!null" {
				d.errorf(n, "expected a string, got %s (quote it if you mean text)", describe(n))
			} else {
				d.errorf(n, "expected a string, got %s", describe(n))
			}
			return
		}
		if f != nil {
			v.SetString(d.checkName(n, f))
		} else {
			v.SetString(d.strs.get(n.Value))
		}
	case reflect.Bool:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
			d.errorf(n, "expected true or false, got %s", describe(n))
			return
		}
		v.SetBool(n.Value == "true" || n.Value == "True" || n.Value == "TRUE")
	case reflect.Int, reflect.Int32, reflect.Int64:
		i, err := strconv.ParseInt(n.Value, 0, 64)
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" || err != nil || v.OverflowInt(i) {
			d.errorf(n, "expected a whole number, got %s", describe(n))
			return
		}
		v.SetInt(i)
	case reflect.Float64:
		x, err := strconv.ParseFloat(n.Value, 64)
		if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!float") || err != nil {
			d.errorf(n, "expected a number, got %s", describe(n))
			return
		}
		v.SetFloat(x)
	default:
		panic(fmt.Sprintf("inventory: decoder cannot fill %s", v.Type())) // a model bug, caught by tests
	}
}

// isScalar reports whether a pointer to a value of type t is a scalarDecoder. The answer is
// remembered: the decoder asks for every value it fills.
func (d *decoder) isScalar(t reflect.Type) bool {
	is, ok := d.scalars[t]
	if !ok {
		is = reflect.PointerTo(t).Implements(scalarType)
		if d.scalars == nil {
			d.scalars = map[reflect.Type]bool{}
		}
		d.scalars[t] = is
	}
	return is
}

// checkName applies a string field's enum and records its references. It returns the value
// to keep: the enum's own copy of it, or an interned one.
func (d *decoder) checkName(n *yaml.Node, f *fieldInfo) string {
	s := n.Value
	if i := slices.Index(f.enum, s); i >= 0 {
		s = f.enum[i]
	} else if f.enum != nil {
		d.errorf(n, "%q is not one of %s%s", n.Value, strings.Join(f.enum, ", "), suggestOnly(n.Value, f.enum))
	}
	switch {
	case f.ref == "":
		return d.strs.get(s)
	case d.refs != nil:
		*d.refs = append(*d.refs, refUse{refName: refName{name: s, kind: f.refKind}, pos: d.pos(n), path: d.path()})
		return s
	default:
		return d.uses.add(f.refKind, s, d.index)
	}
}

func suggestOnly(s string, c []string) string {
	if best, ok := nearest(s, c); ok {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return ""
}

// eachPair walks a mapping's key/value pairs, rejecting non-string keys, merge keys and
// duplicate keys (yaml.Node parsing accepts duplicates; rotor does not).
func (d *decoder) eachPair(n *yaml.Node, fn func(k, v *yaml.Node)) {
	var seen map[string]*yaml.Node
	if len(n.Content) > 16 {
		seen = make(map[string]*yaml.Node, len(n.Content)/2)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || (k.Tag != "!!str" && k.Tag != "!!merge") {
			d.errorf(k, "keys must be plain names, got %s", describe(k))
			continue
		}
		if k.Tag == "!!merge" {
			d.errorf(k, "merge keys (<<) are not supported: repeat the keys, or put shared settings under defaults")
			continue
		}
		var first *yaml.Node
		if seen != nil {
			first = seen[k.Value]
			seen[k.Value] = k
		} else {
			for j := 0; j < i; j += 2 {
				if n.Content[j].Value == k.Value && n.Content[j].Kind == yaml.ScalarNode {
					first = n.Content[j]
					break
				}
			}
		}
		if first != nil && first != k {
			d.errorf(k, "duplicate key %q (first at line %d, column %d)", k.Value, first.Line, first.Column)
			continue
		}
		fn(k, v)
	}
}

// decodeKeyed fills a []*T from a mapping whose keys are the entries' ids.
func (d *decoder) decodeKeyed(n *yaml.Node, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "expected a mapping of names to entries, got %s", describe(n))
		return
	}
	elemType := v.Type().Elem().Elem()
	si := infoOf(elemType)
	s := reflect.MakeSlice(v.Type(), 0, len(n.Content)/2)
	d.eachPair(n, func(k, val *yaml.Node) {
		if !validID(k.Value) {
			d.errorf(k, "%q is not a valid name: use lower-case letters, digits, '.', '_' and '-', starting and ending with a letter or digit", k.Value)
		}
		e := d.new(elemType)
		if si.idIndex >= 0 {
			e.Elem().Field(si.idIndex).SetString(d.strs.get(k.Value))
		}
		if si.posIndex >= 0 {
			setPos(e.Elem().Field(si.posIndex), d.pos(k))
		}
		d.decodeAt(k.Value, val, e.Elem(), nil)
		s = reflect.Append(s, e)
	})
	v.Set(s)
}

// positionNoter is implemented by model structs that keep the positions of some keys for
// checks made after decoding (a bad time zone is reported at the time zone, not the window).
type positionNoter interface {
	notePositions(m keyPositions)
}

// keyPositions finds where the values of a mapping's keys are. It is passed by value so that
// noting positions allocates nothing.
type keyPositions struct {
	d *decoder
	n *yaml.Node
}

// pos is the position of key's value, or the zero Pos when the key is absent.
func (m keyPositions) pos(key string) Pos {
	if kn := valueNode(m.n, key); kn != nil {
		return m.d.pos(kn)
	}
	return Pos{}
}

// lineCol is pos without the file, for the structs there are hundreds of thousands of.
func (m keyPositions) lineCol(key string) lineCol {
	if kn := valueNode(m.n, key); kn != nil {
		return lineCol{line: int32(kn.Line), col: int32(kn.Column)}
	}
	return lineCol{}
}

// setPos fills a field of type Pos without boxing the value.
func setPos(field reflect.Value, p Pos) { *field.Addr().Interface().(*Pos) = p }

// providerConfig finds the type of a provider block (n, decoded into v), sets v's config
// field to a new config of that type, and returns it with its description; typeKnown is false when
// the block names a type the catalog does not have (reported here) or names none. For any
// other struct it returns nil, true.
func (d *decoder) providerConfig(n *yaml.Node, v reflect.Value, si *structInfo) (cfg reflect.Value, cfgInfo *structInfo, typeKnown bool) {
	if si.config < 0 || si.typeField < 0 {
		return cfg, nil, true
	}
	tf := &si.fields[si.typeField]
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value != tf.key {
			continue
		}
		tn, ok := d.resolve(n.Content[i+1])
		if !ok || tn.Kind != yaml.ScalarNode || tn.Tag != "!!str" {
			return cfg, nil, false // reported when the field itself is decoded
		}
		c, ok := d.cat.NewConfig(tf.provider, tn.Value)
		if !ok {
			d.errorAt(tf.key, tn, "unknown %s type %q%s", tf.provider, tn.Value, hint(tn.Value, d.cat.Types(tf.provider)))
			return cfg, nil, false
		}
		cfg = reflect.ValueOf(c)
		cfgInfo = infoOf(cfg.Elem().Type())
		v.Field(si.config).Set(cfg)
		if key := collision(v.Type(), cfg.Elem().Type(), si, cfgInfo); key != "" {
			d.errorAt(tf.key, tn, "%s", collisionMsg(tf.provider, tn.Value, key))
		}
		return cfg, cfgInfo, true
	}
	return cfg, nil, false
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, si *structInfo) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "expected a mapping with keys %s, got %s", strings.Join(si.keys, ", "), describe(n))
		return
	}
	if si.posIndex >= 0 && v.Field(si.posIndex).IsZero() {
		setPos(v.Field(si.posIndex), d.pos(n))
	}

	// A provider block: find its type first, so its own keys can be decoded strictly.
	cfg, cfgInfo, typeKnown := d.providerConfig(n, v, si)

	var presentBuf, cfgPresentBuf [32]bool // most structs have fewer keys: no allocation
	present := boolsOf(presentBuf[:], len(si.fields))
	var cfgPresent []bool
	if cfgInfo != nil {
		cfgPresent = boolsOf(cfgPresentBuf[:], len(cfgInfo.fields))
	}
	d.eachPair(n, func(k, val *yaml.Node) {
		if i, ok := si.byKey[k.Value]; ok {
			f := &si.fields[i]
			present[i] = !isNull(val)
			if f.provider != "" {
				// The type itself: a string check only; the catalog lookup happened above.
				if tn, ok := d.resolve(val); ok && (tn.Kind != yaml.ScalarNode || tn.Tag != "!!str") {
					d.errorAt(f.key, tn, "expected a type name, got %s", describe(tn))
				} else if ok {
					v.Field(f.index).SetString(d.strs.get(tn.Value))
				}
				return
			}
			d.decodeAt(f.key, val, v.Field(f.index), f)
			return
		}
		if cfgInfo != nil {
			if i, ok := cfgInfo.byKey[k.Value]; ok {
				f := &cfgInfo.fields[i]
				cfgPresent[i] = !isNull(val)
				d.decodeAt(f.key, val, cfg.Elem().Field(f.index), f)
				return
			}
		}
		if !typeKnown {
			return // the unknown type is the error; its keys cannot be judged
		}
		valid := si.keys
		if cfgInfo != nil {
			valid = append(slices.Clone(si.keys), cfgInfo.keys...)
			slices.Sort(valid)
		}
		d.errorf(k, "unknown key %q%s", k.Value, hint(k.Value, valid))
	})

	for i, f := range si.fields {
		if f.required && !present[i] {
			d.errorf(n, "missing required key %q", f.key)
		}
	}
	if cfgInfo != nil {
		for i, f := range cfgInfo.fields {
			if f.required && !cfgPresent[i] {
				d.errorf(n, "missing required key %q for type %q", f.key, v.Field(si.fields[si.typeField].index).String())
			}
		}
		if cv, ok := cfg.Interface().(provider.ConfigValidator); ok {
			for _, fe := range cv.Validate() {
				at := n
				if kn := keyNode(n, strings.SplitN(fe.Field, ".", 2)[0]); kn != nil {
					at = kn
				}
				d.errorAt(fe.Field, at, "%s", fe.Msg)
			}
		}
	}
	if pn, ok := v.Addr().Interface().(positionNoter); ok {
		pn.notePositions(keyPositions{d, n})
	}
}

// boolsOf returns n false values, in buf when it is large enough.
func boolsOf(buf []bool, n int) []bool {
	if n <= len(buf) {
		return buf[:n]
	}
	return make([]bool, n)
}

// keyNode returns the key node of a mapping entry, or nil.
func keyNode(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i]
		}
	}
	return nil
}

// valueNode returns the value node of a mapping entry, or nil.
func valueNode(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}
