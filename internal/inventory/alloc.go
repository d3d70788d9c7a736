package inventory

import (
	"hash/maphash"
	"reflect"
)

// How the decoder allocates the model. A large inventory (100,000 credentials, 500,000
// consumers) decodes into hundreds of thousands of structs and millions of strings, most of
// them repeated; how they are allocated decides much of the memory and the time a load takes.
// A string the model keeps is one copy shared by all its uses: an enum value is the enum's own
// string, a name of a team, window, identity, check or credential is the copy its refUses
// entry keeps, and other short strings go through an interner.

// interner keeps one copy of the short strings decoded most often (consumer ids, descriptions,
// provider types), so that they are held once rather than once per occurrence. It is a
// fixed-size cache, not a set: a string whose slot holds another is kept as it is, so its
// memory stays bounded and a look-up costs one hash of a short string. One goroutine owns it.
type interner struct {
	seed  maphash.Seed
	slots []string
}

const (
	internSlots = 1 << 16
	maxInterned = 64 // longer strings are rarely repeated
)

func newInterner() *interner {
	return &interner{seed: maphash.MakeSeed(), slots: make([]string, internSlots)}
}

func (t *interner) get(s string) string {
	if t == nil || len(s) == 0 || len(s) > maxInterned {
		return s
	}
	slot := &t.slots[maphash.String(t.seed, s)&(internSlots-1)]
	if *slot == s {
		return *slot
	}
	*slot = s
	return s
}

// slabSize is how many entries of one type are allocated at once (see new).
const slabSize = 64

// slab is an array of zero values of one type, handed out one by one.
type slab struct {
	arr  reflect.Value
	next int
}

// new returns a pointer to a new zero value of type t. The values are carved out of arrays
// of slabSize: a large inventory has hundreds of thousands of credentials, consumers and
// reloads, and as a few thousand allocations they cost less to allocate, to hold (no
// rounding up to a size class each) and to scan for the garbage collector. An array lives as
// long as any of its values, which is as long as the model.
func (d *decoder) new(t reflect.Type) reflect.Value {
	s := d.slabs[t]
	if s == nil || s.next == slabSize {
		s = &slab{arr: reflect.New(reflect.ArrayOf(slabSize, t)).Elem()}
		if d.slabs == nil {
			d.slabs = map[reflect.Type]*slab{}
		}
		d.slabs[t] = s
	}
	s.next++
	return s.arr.Index(s.next - 1).Addr()
}
