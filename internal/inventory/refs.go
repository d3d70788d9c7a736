package inventory

import (
	"fmt"
	"slices"
)

// refKind is what a reference names.
type refKind uint8

const (
	refTeam refKind = iota
	refWindow
	refIdentity
	refCheck
	refCredential
)

var refKindNames = [...]string{refTeam: "team", refWindow: "window", refIdentity: "identity", refCheck: "check", refCredential: "credential"}

func (k refKind) String() string { return refKindNames[k] }

func refKindOf(name string) refKind {
	for k, n := range refKindNames {
		if n == name {
			return refKind(k)
		}
	}
	panic("inventory: unknown reference kind " + name) // a model bug, caught by tests
}

// refName is what a reference names.
type refName struct {
	name string
	kind refKind
}

// refUses records which files name each team, window, identity, check and credential. Names
// are checked once every file is loaded. A large inventory holds millions of references and
// almost all are fine, so where each one is (its position and key path) is not kept: the few
// files that name something undefined are decoded again to find them (see refsOf).
type refUses [len(refKindNames)]map[string]*refFiles

// refFiles are the files that name one thing, by index, ascending.
type refFiles struct {
	name  string // the copy of the name that the model keeps
	files []int32
}

func newRefUses() *refUses {
	u := &refUses{}
	for k := range u {
		u[k] = map[string]*refFiles{}
	}
	return u
}

// add records that file names name, and returns the name to keep: the same string for every
// use of a name, so that the model holds each name once (as interner does).
func (u *refUses) add(kind refKind, name string, file int32) string {
	r := u[kind][name]
	if r == nil {
		r = &refFiles{name: name}
		u[kind][name] = r
	}
	if len(r.files) == 0 || r.files[len(r.files)-1] != file {
		r.files = append(r.files, file)
	}
	return r.name
}

// refUse is one reference with where it is, as a file decoded again reports it.
type refUse struct {
	refName
	pos  Pos
	path string
}

// checkRefs reports every reference to a team, window, identity, check or credential that
// does not exist.
func checkRefs(inv *Inventory, files []string, uses []*refUses, opts Options, e *errs) {
	exists := func(r refName) bool {
		var ok bool
		switch r.kind {
		case refTeam:
			_, ok = inv.teams[r.name]
		case refWindow:
			_, ok = inv.windows[r.name]
		case refIdentity:
			_, ok = inv.identities[r.name]
		case refCheck:
			_, ok = inv.checks[r.name]
		case refCredential:
			_, ok = inv.credentials[r.name]
		}
		return ok
	}
	var bad []int32 // the files that name something undefined
	for _, u := range uses {
		for kind, names := range u {
			for name, r := range names {
				if !exists(refName{name: name, kind: refKind(kind)}) {
					bad = append(bad, r.files...)
				}
			}
		}
	}
	slices.Sort(bad)
	bad = slices.Compact(bad)
	if len(bad) == 0 {
		return
	}

	names := func(kind refKind) []string {
		switch kind {
		case refTeam:
			return keys(inv.teams)
		case refWindow:
			return keys(inv.windows)
		case refIdentity:
			return keys(inv.identities)
		case refCheck:
			return keys(inv.checks)
		}
		return keys(inv.credentials)
	}
	plural := [...]string{refTeam: "teams", refWindow: "windows", refIdentity: "identities", refCheck: "checks", refCredential: "credentials"}
	cache := map[refKind][]string{}
	type at struct {
		refName
		pos Pos
	}
	for _, i := range bad {
		reported := map[at]bool{} // aliases decode one node many times: report it once
		for _, r := range refsOf(files[i], opts) {
			if exists(r.refName) || reported[at{r.refName, r.pos}] {
				continue
			}
			reported[at{r.refName, r.pos}] = true
			valid, ok := cache[r.kind]
			if !ok {
				valid = names(r.kind)
				cache[r.kind] = valid
			}
			msg := fmt.Sprintf("unknown %s %q: it is not defined under %s%s", r.kind, r.name, plural[r.kind], hint(r.name, valid))
			if r.path != "" {
				msg = r.path + ": " + msg
			}
			e.list = append(e.list, Error{Pos: r.pos, Msg: msg})
		}
	}
}

// refsOf decodes a file again to find its references with their positions and key paths, for
// the messages about unknown ones (see refUses). Decoding is deterministic: the same
// references are found at the same places, in the same order.
func refsOf(name string, opts Options) []refUse {
	refs := []refUse{}
	decodeFile(name, -1, opts, &scratch{refs: &refs})
	return refs
}
